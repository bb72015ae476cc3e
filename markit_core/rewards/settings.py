"""A project's reward quality-control settings: read (defaults without a row) and change.

The settings are the warnings' trust level and minimum positives and the
optional gate "apply quality control only on labels where the AI is
trusted" (off by default: the paper's rule). A change is checked
(``EDIT_SETTINGS``), written in one transaction and logged in the ledger.
"""

from __future__ import annotations

from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import rolls_back
from markit_core.errors import ValidationError
from markit_core.models import RewardSettings, User
from markit_core.rewards.diagnostics import QcSettings

__all__ = ["get_qc_settings", "update_qc_settings"]


def _row(session: Session, project_id: int) -> RewardSettings | None:
    return session.exec(
        select(RewardSettings).where(RewardSettings.project_id == project_id)
    ).first()


def get_qc_settings(session: Session, actor: User, project_id: int) -> QcSettings:
    """The project's settings (the defaults when none were saved)."""
    require(session, actor, project_id, Action.REWARDS)
    row = _row(session, project_id)
    if row is None:
        return QcSettings()
    return QcSettings(row.trust_level, row.min_positives, row.trusted_ai_only)


@rolls_back
def update_qc_settings(
    session: Session,
    actor: User,
    project_id: int,
    *,
    trust_level: float,
    min_positives: int,
    trusted_ai_only: bool,
) -> QcSettings:
    """Save the project's quality-control settings (owners and managers).

    Raises
    ------
    ValidationError
        Trust level outside -1..1 or a negative minimum.
    PermissionDenied
        The actor may not edit the project's settings.
    """
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    try:
        settings = QcSettings(float(trust_level), int(min_positives), bool(trusted_ai_only))
    except (TypeError, ValueError) as e:
        raise ValidationError("trust level and minimum positives must be numbers") from e
    row = _row(session, project_id) or RewardSettings(project_id=project_id)
    row.trust_level = settings.trust_level
    row.min_positives = settings.min_positives
    row.trusted_ai_only = settings.trusted_ai_only
    session.add(row)
    session.flush()
    ledger.append(
        session, actor=actor, project_id=project_id, action="rewards.settings", record=row
    )
    session.commit()
    return settings

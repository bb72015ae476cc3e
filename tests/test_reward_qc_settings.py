"""Issue 14: project QC settings (service, ledger) and what a stored run carries."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.models import LedgerEntry, RewardRun, RewardSettings
from markit_core.review.views import adjudicate
from markit_core.rewards import runs as reward_runs
from markit_core.rewards.diagnostics import QcSettings
from markit_core.rewards.settings import get_qc_settings, update_qc_settings
from tests.review_helpers import build_example


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


def effusion_ai(ex) -> dict[tuple[int, str], bool]:
    """An AI reference for effusion only (images 1-4: T F F T); pneumothorax has none."""
    return {(c, "effusion"): v for c, v in zip(ex.cases, [True, False, False, True], strict=True)}


def test_settings_default_save_and_ledger(session, ex) -> None:
    assert get_qc_settings(session, ex.owner, ex.project.id) == QcSettings()
    saved = update_qc_settings(
        session, ex.owner, ex.project.id, trust_level=0.6, min_positives=5, trusted_ai_only=True
    )
    assert saved == QcSettings(0.6, 5, True)
    assert get_qc_settings(session, ex.owner, ex.project.id) == saved
    update_qc_settings(
        session, ex.owner, ex.project.id, trust_level=0.3, min_positives=5, trusted_ai_only=False
    )
    (row,) = session.exec(select(RewardSettings)).all()  # one row per project, updated
    assert (row.trust_level, row.trusted_ai_only) == (0.3, False)
    entries = session.exec(
        select(LedgerEntry).where(LedgerEntry.action == "rewards.settings")
    ).all()
    assert len(entries) == 2 and ledger.verify(session, ex.owner, ex.project.id).ok


def test_settings_refused_change_leaves_nothing(session, ex) -> None:
    with pytest.raises(PermissionDenied):
        update_qc_settings(
            session,
            ex.annotators["ann_a"],
            ex.project.id,
            trust_level=0.5,
            min_positives=1,
            trusted_ai_only=True,
        )
    with pytest.raises(ValidationError, match="trust level"):
        update_qc_settings(
            session, ex.owner, ex.project.id, trust_level=2, min_positives=1, trusted_ai_only=True
        )
    assert session.exec(select(RewardSettings)).all() == []
    assert get_qc_settings(session, ex.owner, ex.project.id) == QcSettings()


def test_a_run_stores_diagnostics_intervals_rules_and_times(session, ex) -> None:
    run_id, result = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, ai=effusion_ai(ex), n_resamples=200
    )
    # effusion answers (A, B, C): T T F F / T T F T / T F F F vs AI T F F T:
    # kappa 0, 0.5, 0.5 -> A is excluded on effusion.
    assert [(e.annotator, e.label) for e in result.exclusions] == [("ann_a", "effusion")]
    row = session.get(RewardRun, run_id)
    res = row.result
    qc = res["quality_control"]
    assert qc["labels"]["pneumothorax"]["status"].startswith("no AI reference")
    assert qc["exclusions"][0]["annotator"] == "ann_a"
    assert set(res["reward_ci"]) == {"ann_a", "ann_b", "ann_c"}
    assert res["bootstrap"]["resamples"] == 200 and row.params["bootstrap_resamples"] == 200
    assert set(res["rule_comparison"]) == {"majority", "dawid_skene", "adjudication"}
    assert res["rule_comparison"]["adjudication"]["error"] == "no adjudications recorded"
    assert res["time_table"]["overall"]["mean"] == pytest.approx(7.5)
    assert row.params["trusted_ai_only"] is False and row.params["trust_level"] == 0.4


def test_a_run_uses_the_project_gate_and_adjudications(session, ex) -> None:
    update_qc_settings(
        session, ex.owner, ex.project.id, trust_level=0.9, min_positives=10, trusted_ai_only=True
    )
    adjudicate(session, ex.reviewer, ex.project.id, ex.cases[3], ex.labels["pneumothorax"], True)
    run_id, result = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, ai=effusion_ai(ex), n_resamples=50
    )
    # The AI's kappa vs consensus on effusion is below 0.9: no exclusion applied.
    assert result.exclusions == ()
    res = session.get(RewardRun, run_id).result
    assert res["quality_control"]["exclusions"][0]["applied"] is False
    assert session.get(RewardRun, run_id).params["trusted_ai_only"] is True
    adj = res["rule_comparison"]["adjudication"]
    assert adj["error"] is None and adj["rewards"] != res["rule_comparison"]["majority"]["rewards"]
    # Without the gate (explicit settings) the paper's rule applies.
    _, paper = reward_runs.run_rewards(
        session,
        ex.owner,
        ex.project.id,
        budget=100,
        ai=effusion_ai(ex),
        qc=QcSettings(),
        n_resamples=0,
    )
    assert [(e.annotator, e.label) for e in paper.exclusions] == [("ann_a", "effusion")]
    assert np.isclose(sum(paper.rewards), 100)

"""All database tables (SQLModel).

Schema changes go through Alembic migrations in ``markit_core/migrations``;
never call ``create_all`` outside tests of the migrations themselves.
Times are aware UTC datetimes (both SQLite and PostgreSQL keep microseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Current time as an aware UTC datetime (SQLModel stores and returns UTC)."""
    return datetime.now(UTC)


class Role(StrEnum):
    """Project roles, as in the MarkIt paper's Fig. 3."""

    OWNER = "owner"
    MANAGER = "manager"
    DATA_OWNER = "data_owner"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"


class LabelKind(StrEnum):
    """Binary labels carry a confidence grade; ROI labels carry regions."""

    BINARY = "binary"
    ROI = "roi"


# --- accounts -------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(default="", max_length=128)
    password_hash: str
    is_admin: bool = False
    is_active: bool = True
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, max_length=64)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    success: bool
    at: datetime = Field(default_factory=utcnow, index=True)


# --- projects -------------------------------------------------------------


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    description: str = Field(default="", max_length=2000)
    required_annotators: int = 0  # readers each case needs; 0 = every annotator reads every case
    show_others_after_submit: bool = False
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    role: str = Field(max_length=32)
    granted_at: datetime = Field(default_factory=utcnow)


class LabelDef(SQLModel, table=True):
    __tablename__ = "label_def"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    name: str = Field(max_length=100)
    group: str = Field(default="", max_length=100)
    kind: str = Field(default=LabelKind.BINARY.value, max_length=16)
    order: int = 0
    archived: bool = False


# --- activity ledger ------------------------------------------------------


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entry"

    seq: int = Field(primary_key=True)
    at: str = Field(max_length=40)  # ISO 8601 UTC text: hashed exactly as stored
    actor_id: int | None = Field(default=None, index=True)
    actor: str = Field(default="", max_length=64)
    project_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64)
    record_type: str = Field(max_length=64)
    record_id: str = Field(max_length=64)
    record_digest: str = Field(max_length=64)
    removed: bool = False
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64, unique=True)
    leaf_hash: str | None = Field(default=None, max_length=64)  # RFC 6962 leaf (issue 11)


class LedgerHead(SQLModel, table=True):
    """One row: the newest entry, so deleting the tail of the chain is detected."""

    __tablename__ = "ledger_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    entry_hash: str = Field(default="", max_length=64)


# --- images ---------------------------------------------------------------


class Case(SQLModel, table=True):
    """One image (all frames of one DICOM instance, or one raster file)."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash"),
        # the queue's "has the case list changed?" is max(id) per project: one index probe
        Index("ix_case_project_id_id", "project_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    content_hash: str = Field(max_length=64)
    stored_path: str = Field(max_length=255)
    kind: str = Field(default="dicom", max_length=16)
    original_name: str = Field(default="", max_length=255)
    study_uid: str = Field(default="", max_length=64, index=True)
    series_uid: str = Field(default="", max_length=64)
    sop_uid: str = Field(default="", max_length=64)
    accession: str = Field(default="", max_length=64)
    modality: str = Field(default="", max_length=16)
    view_position: str = Field(default="", max_length=16)
    rows: int = 0
    cols: int = 0
    n_frames: int = 1
    burned_in_warning: bool = False
    meta: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class UidMap(SQLModel, table=True):
    """Project-private pseudonym table: original identifier -> replacement."""

    __tablename__ = "uid_map"
    __table_args__ = (UniqueConstraint("project_id", "kind", "original"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    kind: str = Field(max_length=32)
    original: str = Field(max_length=255)
    pseudonym: str = Field(max_length=255)


class CaseOrigin(SQLModel, table=True):
    """Trace-back for data owners: where a case came from, before de-identification."""

    __tablename__ = "case_origin"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True, unique=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    source: str = Field(default="upload", max_length=255)
    patient_id: str = Field(default="", max_length=255)
    patient_name: str = Field(default="", max_length=255)
    accession: str = Field(default="", max_length=255)
    study_uid: str = Field(default="", max_length=255)
    sop_uid: str = Field(default="", max_length=255)


class Report(SQLModel, table=True):
    __tablename__ = "report"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    matched_on: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


# --- annotation -----------------------------------------------------------


class Assignment(SQLModel, table=True):
    """A case assigned to an annotator; without any, all cases are open to all."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)


class Annotation(SQLModel, table=True):
    """One version of one annotator's reading of one case.

    Rows are never updated: an edit adds version n+1, a delete adds a
    ``deleted`` tombstone version, and the current answer is the highest
    version. History is therefore complete and every version is in the ledger.
    """

    __tablename__ = "annotation"
    __table_args__ = (UniqueConstraint("case_id", "annotator_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    annotator_id: int = Field(foreign_key="user_account.id", index=True)
    version: int = 1
    deleted: bool = False
    submit_token: str = Field(max_length=64, unique=True)
    submitted_at: datetime = Field(default_factory=utcnow)
    total_seconds: float = 0.0
    active_seconds: float = 0.0
    idle_seconds: float = 0.0


class AnnotationDraft(SQLModel, table=True):
    """An annotator's unsaved work on one case (``markit_core.annotation.drafts``), one row per
    (case, annotator), overwritten as they edit. Scratch work: not in the ledger."""

    __tablename__ = "annotation_draft"
    __table_args__ = (UniqueConstraint("case_id", "annotator_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    annotator_id: int = Field(foreign_key="user_account.id", index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class AnnotationValue(SQLModel, table=True):
    __tablename__ = "annotation_value"
    __table_args__ = (UniqueConstraint("annotation_id", "label_id"),)

    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int = Field(foreign_key="annotation.id", index=True)
    label_id: int = Field(foreign_key="label_def.id", index=True)
    value: bool | None = None
    confidence: int | None = None
    seconds: float | None = None


class Roi(SQLModel, table=True):
    """A region in image pixel coordinates: ``points`` is [[x, y], ...]."""

    __tablename__ = "roi"

    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int = Field(foreign_key="annotation.id", index=True)
    label_id: int = Field(foreign_key="label_def.id")
    shape: str = Field(max_length=16)
    frame: int = 0
    points: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Adjudication(SQLModel, table=True):
    """A reviewer's final answer for a (case, label), used as consensus."""

    __tablename__ = "adjudication"
    __table_args__ = (UniqueConstraint("case_id", "label_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    label_id: int = Field(foreign_key="label_def.id")
    value: bool
    reviewer_id: int = Field(foreign_key="user_account.id")
    note: str = Field(default="", max_length=2000)
    at: datetime = Field(default_factory=utcnow)


class RewardRun(SQLModel, table=True):
    """A stored reward computation, with its parameters, for later audit."""

    __tablename__ = "reward_run"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    run_by: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ExportRecord(SQLModel, table=True):
    """One export: who took which data out, and a digest of exactly what they got."""

    __tablename__ = "export_record"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    format: str = Field(max_length=16)
    rows: int = 0
    content_sha256: str = Field(max_length=64)


# --- issue 9: accounts and security ------------------------------------------


class LoginThrottle(SQLModel, table=True):
    """Failed-login counter per username, updated atomically before a password is checked.

    ``failures`` counts failed (and in-flight) checks since ``window_start``; a
    conditional ``UPDATE ... WHERE failures < limit`` reserves a check, so
    concurrent guesses can never check more passwords than the limit.
    """

    __tablename__ = "login_throttle"

    username: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(default_factory=utcnow)
    failures: int = 0


class PasswordReset(SQLModel, table=True):
    """An administrator reset this account's password: the user must choose a new one at login.

    A row of its own (not a column of ``user_account``) so that the upgrade adds
    a table and never rewrites the accounts table.
    """

    __tablename__ = "password_reset"

    user_id: int = Field(primary_key=True, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    by: int | None = Field(default=None, foreign_key="user_account.id")


class RemoteArchive(SQLModel, table=True):
    """A DICOMweb or DIMSE archive registered by a site administrator.

    Data owners import from a registered archive by name; they never type an
    address. ``secret`` (password or bearer token) is stored to be used, never
    shown back in full.
    """

    __tablename__ = "remote_archive"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    kind: str = Field(max_length=16)  # dicomweb | dimse
    url: str = Field(default="", max_length=1000)
    host: str = Field(default="", max_length=255)
    port: int = 0
    called_aet: str = Field(default="", max_length=16)
    calling_aet: str = Field(default="", max_length=16)
    auth: str = Field(default="none", max_length=16)  # none | basic | token
    username: str = Field(default="", max_length=255)
    secret: str = Field(default="", max_length=4000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class IdentityView(SQLModel, table=True):
    """One look at de-identification trace-back data: who saw which identity, when."""

    __tablename__ = "identity_view"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    case_id: int | None = Field(default=None, foreign_key="case.id")
    what: str = Field(max_length=32)  # case | mapping | search
    detail: str = Field(default="", max_length=255)
    at: datetime = Field(default_factory=utcnow)


# --- issue 10: AI assist ---
# Exposure and AI labels live in their own tables, not as new columns of ``annotation`` /
# ``annotation_value``: those rows are digested by the ledger, and a new column would change
# the digest of every reading logged before the upgrade.


class AiSettings(SQLModel, table=True):
    """Per-project AI options: pre-label mode, who may use AI, training minimum."""

    __tablename__ = "ai_settings"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", unique=True)
    prelabel_mode: str = Field(default="hidden", max_length=16)  # hidden | after | before
    one_click_accept: bool = False
    annotators_may_use: bool = True
    threshold: float = 0.5
    min_training_cases: int = 20
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")


class ModelVersion(SQLModel, table=True):
    """A model version MarkIt trained from a project's annotations (shipped models need none)."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    task: str = Field(max_length=32)
    labels: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    metrics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    weights_path: str = Field(max_length=255)
    weights_sha256: str = Field(max_length=64)
    training_run_id: int | None = Field(default=None, foreign_key="training_run.id")
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class ActiveModel(SQLModel, table=True):
    """The model version a project uses for one task (AI reference, pre-labels, queue order)."""

    __tablename__ = "active_model"
    __table_args__ = (UniqueConstraint("project_id", "task"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    task: str = Field(max_length=32)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    set_by: int | None = Field(default=None, foreign_key="user_account.id")
    set_at: datetime = Field(default_factory=utcnow)


class AiPrediction(SQLModel, table=True):
    """One model version's outputs for a case: ``outputs`` is {model label: score}."""

    __tablename__ = "ai_prediction"
    __table_args__ = (UniqueConstraint("case_id", "model_name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    outputs: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    run_id: int | None = Field(default=None, foreign_key="ai_run.id")
    created_at: datetime = Field(default_factory=utcnow)


class AiRun(SQLModel, table=True):
    """A background run of one model over a whole project; progress kept here for polling."""

    __tablename__ = "ai_run"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    status: str = Field(default="queued", max_length=16)
    total: int = 0
    done: int = 0
    failed: int = 0
    batch_size: int = 16
    cancel_requested: bool = False
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    started_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class TrainingRun(SQLModel, table=True):
    """Training a model from a project's annotations; per-epoch history kept for polling."""

    __tablename__ = "training_run"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    task: str = Field(max_length=32)
    status: str = Field(default="queued", max_length=16)
    epochs: int = 1
    epoch: int = 0
    history: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    cancel_requested: bool = False
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    started_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class AnnotationExposure(SQLModel, table=True):
    """What AI suggestion a reader saw while answering one label (the anchoring measure)."""

    __tablename__ = "annotation_exposure"
    __table_args__ = (UniqueConstraint("annotation_id", "label_id"),)

    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int = Field(foreign_key="annotation.id", index=True)
    label_id: int = Field(foreign_key="label_def.id")
    suggestion_visible: bool = False
    mode: str = Field(default="hidden", max_length=16)
    model_name: str = Field(default="", max_length=100)
    version: str = Field(default="", max_length=64)
    score: float | None = None
    accepted: bool = False  # the one-click accept was used


class AiLabel(SQLModel, table=True):
    """An answer accepted from a confident model: source AI, never a human reading."""

    __tablename__ = "ai_label"
    __table_args__ = (UniqueConstraint("case_id", "label_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    label_id: int = Field(foreign_key="label_def.id")
    value: bool
    score: float
    source: str = Field(default="ai", max_length=8)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    threshold: float
    accepted_by: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)


class CasePriority(SQLModel, table=True):
    """A case's place in every annotator's queue: most uncertain first (active learning)."""

    __tablename__ = "case_priority"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    case_id: int = Field(foreign_key="case.id", unique=True)
    uncertainty: float
    method: str = Field(default="max_likelihood", max_length=16)
    model_name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


# --- issue 11: export audit (the owner's signing key, signed ledger tree heads) ---


class SigningKey(SQLModel, table=True):
    """A project owner's Ed25519 key; the private half is encrypted with their passphrase."""

    __tablename__ = "signing_key"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    owner_id: int = Field(foreign_key="user_account.id")
    key_id: str = Field(max_length=64, unique=True)  # SHA-256 of the raw public key
    public_key: str = Field(sa_column=Column(Text, nullable=False))  # PEM
    private_key: str = Field(sa_column=Column(Text, nullable=False))  # encrypted PKCS#8 PEM
    retired: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class TreeHead(SQLModel, table=True):
    """A signed head of the ledger's Merkle tree: (size, root, time) under a project's key."""

    __tablename__ = "tree_head"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    key_id: str = Field(max_length=64)
    tree_size: int
    root_hash: str = Field(max_length=64)
    timestamp: str = Field(max_length=40)
    signature: str = Field(max_length=128)
    signed_by: int = Field(foreign_key="user_account.id")


# --- issue 14: reward quality-control settings ---------------------------


class RewardSettings(SQLModel, table=True):
    """A project's quality-control settings for reward runs (no row = the defaults)."""

    __tablename__ = "reward_settings"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", unique=True, index=True)
    trust_level: float = 0.4  # warn when the AI's kappa vs consensus is below this
    min_positives: int = 10  # warn when a label has fewer positive items
    trusted_ai_only: bool = False  # QC only where the AI is trusted (off = the paper's rule)


# --- issue 9: readers per case as a hard cap ---


class CaseReaders(SQLModel, table=True):
    """How many annotators hold a current (not deleted) reading of a case.

    The reader cap is enforced on this counter by one conditional UPDATE in the
    submit transaction (``annotation/submit.py``). It is bookkeeping, not a
    record: it lives outside ``case`` so the case row's ledger digest never changes.
    """

    __tablename__ = "case_readers"

    case_id: int = Field(foreign_key="case.id", primary_key=True)
    readers: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# --- issue 12: login sessions (a reload or a second tab stays logged in) ---


class LoginSession(SQLModel, table=True):
    """A server-side login session carried by a browser cookie (``markit_core.sessions``).

    Only the SHA-256 of the random token is stored, so a copy of the database
    cannot be used to log in. A session ends at ``expires_at``, after the idle
    timeout since ``last_seen``, or when ``revoked_at`` is set (logout, deactivation).
    """

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class ProjectReadingOptions(SQLModel, table=True):
    """How readers see a project's cases (a row of its own, so project rows and their
    ledger digests stay as they were). No row: the defaults (report shown)."""

    __tablename__ = "project_reading_options"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", unique=True, index=True)
    show_report: bool = True  # False: blinded reading, readers never see the report


# --- issue 13: images left in the archive ---


class CaseArchiveRef(SQLModel, table=True):
    """Where a referenced case's pixels live: a registered archive and the original UIDs.

    A referenced case keeps no file in the image store: its ``Case.stored_path``
    is ``archive/...`` (the same string as ``stored_path`` here), and the image
    loaders fetch the instance by these original UIDs, de-identify it and cache
    it (``markit_core.imaging.archive_images``). The original UIDs are the
    hospital's identifiers: like ``CaseOrigin`` they stay server-side, in no
    read-model a reader sees; the pseudonymised ones are on the ``Case`` row.
    """

    __tablename__ = "case_archive_ref"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", unique=True, index=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    archive_id: int = Field(foreign_key="remote_archive.id", index=True)
    stored_path: str = Field(max_length=255, unique=True, index=True)
    study_uid: str = Field(max_length=255)
    series_uid: str = Field(max_length=255)
    sop_uid: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


# --- issue 13: stored answer snapshot ---


class AnswerSnapshotRow(SQLModel, table=True):
    """A project's current answers, dense, as of ledger entry ``ledger_seq``: a rebuildable copy.

    Written by ``markit_core.annotation.snapshot_store`` (never by hand); the ledger
    entries after ``ledger_seq`` bring it up to date (``markit_core.annotation.snapshot``).
    """

    __tablename__ = "answer_snapshot"

    project_id: int = Field(foreign_key="project.id", primary_key=True)
    ledger_seq: int
    ledger_hash: str = Field(max_length=64)
    max_annotation_id: int
    answers: int
    built_at: datetime = Field(default_factory=utcnow)
    axes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # npy: case/reader/label ids
    grades: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # zlib: value, confidence
    seconds: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # zlib: float64 times


# --- issue 12: single sign-on ---


class UserEmail(SQLModel, table=True):
    """The e-mail address single sign-on (``st.login``, OIDC) maps to an account.

    A table of its own rather than a ``user_account`` column: the ledger digests whole
    rows, so a new column would make every logged account read as "changed".
    Stored lower-case; at most one account per address (``sign_on.set_user_email``).
    """

    __tablename__ = "user_email"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    email: str = Field(max_length=254, index=True)
    updated_at: datetime = Field(default_factory=utcnow)

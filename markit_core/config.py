"""Settings, read in one place.

Values come from ``MARKIT_*`` environment variables (pydantic-settings); the
Streamlit layer may pass overrides read from ``.streamlit/secrets.toml``.
Everything else receives a ``Settings`` object as an argument, so tests can
point a whole run at a temporary directory.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """MarkIt configuration (environment prefix ``MARKIT_``)."""

    model_config = SettingsConfigDict(env_prefix="MARKIT_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None
    session_timeout_minutes: float = 30.0
    lockout_attempts: int = 5
    lockout_window_minutes: float = 15.0
    idle_threshold_seconds: float = 30.0
    image_cache_mb: int = 1024
    max_archive_mb: int = 2048
    #: Decoded-size budget per image (frames x rows x columns x samples x bytes), checked
    #: from headers before anything is decoded; also caps each uploaded file's size.
    max_decoded_mb: int = 1024
    max_upload_files: int = 10000
    demo_password: str = "markit-demo"
    # seed the demo even into a database that already has accounts (``make run``)
    demo: bool = False
    # who may create projects: site administrators only, or every logged-in account
    project_creators: Literal["admins", "everyone"] = "admins"
    min_password_length: int = Field(default=8, ge=8, le=128)
    weights_dir: Path | None = None  # MARKIT_WEIGHTS_DIR: external model weights (issue 10)
    # issue 13, images left in the archive: the local cache of fetched instances (LRU by size),
    # the seconds one archive request may take, and how many of a reader's next cases are
    # fetched ahead in the background (for at most ``archive_prefetch_seconds``)
    archive_cache_mb: int = Field(default=2048, ge=0)
    archive_timeout_seconds: float = Field(default=30.0, gt=0)
    archive_prefetch_cases: int = Field(default=3, ge=0, le=50)
    archive_prefetch_seconds: float = Field(default=120.0, gt=0)
    # --- issue 13: inference on a model server (Open Inference Protocol / KServe v2 REST) ---
    #: e.g. ``http://127.0.0.1:8080``; unset = models run in the app process
    inference_url: str | None = None
    #: longest wait for the server's answer (a whole Grad-CAM request), seconds
    inference_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: longest wait to open the connection, seconds
    inference_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=600)

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL; defaults to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'markit.db').resolve()}"

    @property
    def store_dir(self) -> Path:
        """Content-addressed image store."""
        return self.data_dir / "store"

    @property
    def cache_dir(self) -> Path:
        """Derived files that can be rebuilt (thumbnails, model outputs)."""
        return self.data_dir / "cache"

    @property
    def archive_cache_dir(self) -> Path:
        """Instances fetched from archives for referenced cases (rebuildable, size-limited)."""
        return self.cache_dir / "archive"

    @property
    def resolved_weights_dir(self) -> Path:
        """Where an administrator copies external weights (default ``data_dir/weights``)."""
        return self.weights_dir if self.weights_dir is not None else self.data_dir / "weights"

    def ensure_dirs(self) -> None:
        """Create the data, store and cache folders if missing."""
        for d in (self.data_dir, self.store_dir, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides taking precedence."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    # values are validated (and coerced) by pydantic at run time; Settings(**...) also reads
    # the environment, which model_validate would skip
    return Settings(**clean)  # type: ignore[arg-type]

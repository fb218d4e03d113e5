"""How one service process runs: its database, data directory, address and limits.

Nothing here is state: two replicas started with the same settings (and the
same PostgreSQL) are interchangeable.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.contract import batch
from cloud_sync.registry.devices import KEY_OVERLAP_S
from cloud_sync.registry.throttle import ATTEMPTS, LOCKOUT_S

DATA_DIR_ENV = "SITEGUARD_CLOUD_DATA"
DEFAULT_PORT = 8700


def default_data_dir() -> Path:
    """``$SITEGUARD_CLOUD_DATA``, else ``$XDG_DATA_HOME/siteguard-cloud`` (``~/.local/share/...``)."""
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env)
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "siteguard-cloud"


def database_url(db: str | None, data_dir: Path) -> str:
    """``db`` as a SQLAlchemy URL: a URL as it is, a file path as SQLite; None: ``cloud.db`` in ``data_dir``."""
    if db is not None and "://" in db:
        return db
    path = Path(db) if db is not None else data_dir / "cloud.db"
    return f"sqlite:///{path.expanduser().resolve()}"


class ServiceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    db_url: str
    data_dir: Path = Field(description="exports are written below it; the default SQLite database lives in it")
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    max_batch_bytes: int = Field(batch.MAX_BODY_BYTES, gt=0, le=batch.MAX_BODY_BYTES)
    key_overlap_s: float = Field(KEY_OVERLAP_S, ge=0, description="how long a rotated-out device key still works")
    session_idle_s: float = Field(8 * 3600, gt=0)
    session_max_s: float = Field(24 * 3600, gt=0)
    signin_attempts: int = Field(ATTEMPTS, gt=0)
    signin_lockout_s: float = Field(LOCKOUT_S, gt=0)
    cookie_secure: bool = Field(False, description="Secure session cookies (set it behind HTTPS)")
    housekeeping_s: float = Field(60, gt=0, description="how often stale nonces and sessions are dropped")
    jobs_url: Optional[str] = Field(None, description="training job queue: redis://...; None: SQLite in data_dir")

    @classmethod
    def for_cli(cls, db: str | None = None, data_dir: str | None = None, **others: object) -> ServiceSettings:
        """Settings from command-line options: ``--db`` a URL or a file, ``--data-dir`` or the default."""
        directory = Path(data_dir) if data_dir is not None else default_data_dir()
        return cls(db_url=database_url(db, directory), data_dir=directory, **others)

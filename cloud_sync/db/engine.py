"""Database engines for the cloud: SQLite (the embedded default, a file) or PostgreSQL (at scale).

SQLite runs in WAL mode with a busy timeout, so the service's readers never
block its writer and two writers wait for each other instead of failing;
``synchronous=NORMAL`` is durable across a process crash (the WAL is synced
at checkpoints; a power cut may lose the last transactions, which the edge
re-sends because their receipts never arrived).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str) -> Engine:
    """An engine for ``url``: a file path or ``sqlite:///...``, or ``postgresql://...``; ValueError otherwise."""
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        rest = url.split("://", 1)[1]
        return create_engine(f"postgresql+psycopg://{rest}", pool_size=5, max_overflow=10, pool_pre_ping=True)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
    elif "://" in url:
        raise ValueError(f"unsupported database URL {url.split('://', 1)[0]}://...: use a file path, "
                         "sqlite:///PATH or postgresql://...")
    else:
        path = url
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{Path(path).expanduser()}")
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

"""Opening SQLite connections with the pragmas the edge store depends on.

Every connection to the store file goes through :func:`connect` so the writer,
the readers and the tests all see the same durability and locking behaviour.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# Readers wait this long for the writer's lock instead of failing at once.
BUSY_TIMEOUT_MS = 5000
# The WAL is truncated back to this size after a checkpoint, so the -wal file
# stays bounded next to the disk budget of the main file.
WAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode: callers issue BEGIN/COMMIT themselves.

    ``auto_vacuum=INCREMENTAL`` only takes effect before the first table is
    created, so it is set on every open (a no-op on an existing file) and lets
    the disk budget hand freed pages back to the file system.
    WAL + ``synchronous=NORMAL``: a commit survives a process crash (SIGKILL)
    as soon as it returns; only power loss can undo the latest NORMAL commits,
    which is why the writer switches to FULL for alarm commits.
    """
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    try:  # timeout= above is SQLite's busy_timeout
        if readonly:
            conn.execute("PRAGMA query_only=ON")
            return conn
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: cannot enable WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    IMMEDIATE takes the write lock up front, so a transaction never fails
    half-way with SQLITE_BUSY when it upgrades from reading to writing.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (disk full) leaves the transaction open; an I/O error may
        # already have rolled it back. Never let the rollback hide the real error.
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


# Primary result codes worth retrying: the disk or a lock may come back.
_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})  # BUSY LOCKED NOMEM READONLY IOERR FULL CANTOPEN PROTOCOL
SQLITE_FULL = 13


def is_transient(exc: sqlite3.Error) -> bool:
    """True for errors of the environment (disk full, read-only, I/O, locks), not of the statement."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _TRANSIENT_CODES


def is_disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_FULL


class ReadConnection:
    """A query-only connection for reads from any thread, one query at a time.

    Reads never go through the writer: WAL lets them see the last commit
    without waiting for the writer's transaction.
    """

    def __init__(self, path: Path) -> None:
        self._conn = connect(path, readonly=True)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    @contextmanager
    def cursor(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        """All rows as dicts; fully consumed so no read snapshot is left open."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params)]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

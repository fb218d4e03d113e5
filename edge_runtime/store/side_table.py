"""A table written in the caller on a connection of its own, opened on first use.

Some statements need an answer at once (a new row's id, a name already
taken), so they run in the caller rather than through the store process;
docs/store.md says why that is safe (WAL, busy_timeout, one statement at a
time). Opening on first use lets a daemon whose disk is full still start.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from .connection import connect


class SideTable:
    """One lazily opened connection and the lock that keeps its statements one at a time."""

    row_factory: Any = None  # e.g. sqlite3.Row for a subclass that reads rows by name

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        """The connection, opened now if needed; raises sqlite3.Error while the file cannot be opened."""
        if self._conn is None:
            self._conn = connect(self._db_path)  # WAL and busy_timeout: it shares the file with the store process
            if self.row_factory is not None:
                self._conn.row_factory = self.row_factory
        return self._conn

"""The ``zone_actions`` log: supervisors' siren and evacuation actions.

An insert has to hand back the new row's id (the API answers with it), so it
runs on a connection of its own in the caller, not through the store process;
docs/store.md says why that is safe. Every method may block: call them off
the event loop. Errors are raised as StoreError.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from .connection import connect
from .errors import StoreError

_COLUMNS = 'id, zone, action, "by", ts, note, alarm_id'
_INSERT = 'INSERT INTO zone_actions (zone, action, "by", ts, note, alarm_id) VALUES (?, ?, ?, ?, ?, ?)'


class ZoneActionsTable:
    """Opened on first use: the store migrates the file before the first action can come."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one statement at a time, from worker threads

    def insert(self, zone: str, action: str, by: str, ts: float, note: str | None, alarm_id: str | None) -> int:
        """Record one action; returns its id."""
        with self._lock:
            try:
                cursor = self._connection().execute(_INSERT, (zone, action, by, ts, note, alarm_id))
            except sqlite3.Error as exc:
                raise StoreError(f"zone action not recorded: {exc}") from exc
            return int(cursor.lastrowid or 0)

    def select(self, since: float, until: float, zone: str | None, limit: int) -> list[dict[str, Any]]:
        """Actions in [since, until), of one zone or all, newest first."""
        sql = f"SELECT {_COLUMNS} FROM zone_actions WHERE ts >= ? AND ts < ?"
        params: tuple[object, ...] = (since, until)
        if zone is not None:
            sql, params = sql + " AND zone = ?", (*params, zone)
        with self._lock:
            try:
                rows = self._connection().execute(sql + " ORDER BY ts DESC, id DESC LIMIT ?", (*params, limit))
                return [dict(row) for row in rows]
            except sqlite3.Error as exc:
                raise StoreError(f"zone actions not read: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._db_path)  # WAL and busy_timeout: it shares the file with the store process
            self._conn.row_factory = sqlite3.Row
        return self._conn

"""The ``zone_actions`` log: supervisors' siren and evacuation actions.

An insert has to hand back the new row's id (the API answers with it), so it
runs on a connection of its own in the caller, not through the store process;
docs/store.md says why that is safe. Every method may block: call them off
the event loop. Errors are raised as StoreError.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from .errors import StoreError
from .side_table import SideTable

_COLUMNS = 'id, zone, action, "by", ts, note, alarm_id'
_INSERT = 'INSERT INTO zone_actions (zone, action, "by", ts, note, alarm_id) VALUES (?, ?, ?, ?, ?, ?)'


class ZoneActionsTable(SideTable):
    """Opened on first use: the store migrates the file before the first action can come."""

    row_factory = sqlite3.Row

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

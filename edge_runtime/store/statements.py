"""Statements shared by the writer, the outbox and the disk budget (a leaf: imports nothing of the store).

``Write`` is what producers queue for the writer; ``synced_ids`` is read by
both the outbox (what to upload) and the budget (what may be evicted), so
neither has to import the other.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

Row = tuple[Any, ...]

# Upload order: alarms and their labels before bulk telemetry.
OUTBOX_TABLES = ("alarms", "transitions", "verdicts", "exposure_minutes", "readings")

MARK_SQL = (
    "INSERT INTO outbox (tbl, synced_id, synced_ts) VALUES (?, ?, ?)"
    " ON CONFLICT (tbl) DO UPDATE SET synced_id = max(synced_id, excluded.synced_id), synced_ts = excluded.synced_ts"
)


@dataclass(frozen=True, slots=True)
class Write:
    """One parameterised statement; ``table`` is what the stats count it under."""

    table: str
    sql: str
    params: Row


def synced_ids(conn: sqlite3.Connection) -> dict[str, int]:
    """Committed marks for every outbox table (0 = nothing synced yet)."""
    marks = dict.fromkeys(OUTBOX_TABLES, 0)
    marks.update(conn.execute("SELECT tbl, synced_id FROM outbox").fetchall())
    return marks

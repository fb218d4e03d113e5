"""Statements shared by the writer, the outbox and the disk budget (a leaf: imports nothing of the store).

``Write`` is what producers queue for the writer; ``synced_ids`` and
``quarantined_ranges`` are read by both the outbox (what to upload) and the
budget (what may be evicted), so neither has to import the other.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from cloud_sync.contract.tables import TABLES

Row = tuple[Any, ...]

# Upload order is the contract's: every lane before the next (events, bulk, snapshots).
OUTBOX_TABLES = tuple(TABLES)

MARK_SQL = (
    "INSERT INTO outbox (tbl, synced_id, synced_ts) VALUES (?, ?, ?)"
    " ON CONFLICT (tbl) DO UPDATE SET synced_id = max(synced_id, excluded.synced_id), synced_ts = excluded.synced_ts"
)
# A range the cloud refused, kept with its reason; recorded once however often it is refused (a re-send).
QUARANTINE_SQL = (
    "INSERT OR IGNORE INTO sync_quarantine (tbl, first_id, last_id, key, reason, ts, rows) VALUES (?, ?, ?, ?, ?, ?, ?)"
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


def quarantined_ranges(conn: sqlite3.Connection) -> dict[str, list[tuple[int, int]]]:
    """Per table, the id ranges the cloud refused, in order: below the mark, yet not in the cloud."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for table, first, last in conn.execute("SELECT tbl, first_id, last_id FROM sync_quarantine ORDER BY first_id"):
        ranges.setdefault(table, []).append((first, last))
    return ranges

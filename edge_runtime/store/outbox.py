"""Sync high-water marks: for each uploaded table, every id up to the mark is in the cloud.

Ids are AUTOINCREMENT, so "id > mark" is exactly what still has to go, also
for an alarm whose row was replaced by a newer state (it gets a new id).
Marks only move forward and are written through the store process (the one
writer); they are also kept in memory, so ``pending`` never hands out rows
that were already confirmed but whose mark is not committed yet. A mark lost
in a crash only means a re-send, which the sync contract makes safe.

A range the cloud refuses is quarantined: recorded with the cloud's reason in
``sync_quarantine`` and the mark moved past it, so the agent never sends it
again (the disk budget still treats it as not in the cloud).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .connection import ReadConnection
from .statements import MARK_SQL, OUTBOX_TABLES, QUARANTINE_SQL, Write, synced_ids


class Outbox:
    """What the sync agent still has to upload, and where it has got to."""

    def __init__(self, put: Callable[[Write], None], clock: Callable[[], float]) -> None:
        self._put = put
        self._clock = clock
        self._reader: ReadConnection | None = None
        self._marks: dict[str, int] = dict.fromkeys(OUTBOX_TABLES, 0)

    def attach(self, reader: ReadConnection) -> None:
        """Load the committed marks; called by the Store once its database can be read."""
        with reader.cursor() as conn:
            committed = synced_ids(conn)
        self._marks = {table: max(mark, self._marks[table]) for table, mark in committed.items()}
        self._reader = reader

    def high_water_mark(self, table: str) -> int:
        return self._marks[_checked(table)]

    def pending(self, table: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` rows not yet synced, oldest first; each has its ``id``."""
        if self._reader is None:
            raise RuntimeError("outbox used before Store.open()")
        mark = self._marks[_checked(table)]
        return self._reader.query(f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (mark, limit))

    def mark_synced(self, table: str, up_to_rowid: int) -> None:
        """Record that the cloud has every row of ``table`` with ``id <= up_to_rowid``."""
        if up_to_rowid <= self._marks[_checked(table)]:
            return
        self._marks[table] = up_to_rowid
        self._put(Write("outbox", MARK_SQL, (table, up_to_rowid, self._clock())))

    def quarantine(self, table: str, first_id: int, last_id: int, key: str, reason: str, rows: int) -> None:
        """Keep the refused range ``[first_id, last_id]`` of ``table`` aside with ``reason``, and move past it."""
        self._put(Write("sync_quarantine", QUARANTINE_SQL,
                        (_checked(table), first_id, last_id, key, reason, self._clock(), rows)))
        self.mark_synced(table, last_id)


def _checked(table: str) -> str:
    if table not in OUTBOX_TABLES:
        raise ValueError(f"{table!r} is not synced; outbox tables are {', '.join(OUTBOX_TABLES)}")
    return table

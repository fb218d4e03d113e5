"""Disk budget: keep the database under ``max_bytes`` by deleting what matters least.

Eviction order; a step runs only when the ones before it have nothing left:

1. readings the cloud already has (``id <=`` outbox mark), oldest first;
2. exposure minutes the cloud already has, oldest first;
3. closed alarms whose row, transitions and verdicts are all synced, low
   priority first, oldest first, together with those transitions and verdicts;
4. last resort: readings the cloud never got, oldest first (counted in
   ``evicted_unsynced`` and logged): losing old telemetry beats refusing alarms.

Never evicted: open alarms; unsynced alarms, transitions, verdicts and exposure
minutes; fusion state; outbox marks.

The limit is ``max_bytes``, or less when the file system is nearly full:
eviction also starts when less than ``min_free_bytes`` would be left, because
in WAL mode even a DELETE needs free space (for WAL frames, and for the
checkpoint that copies them into the main file). A disk that fills up anyway
(SQLITE_FULL) makes the writer call :meth:`DiskBudget.make_room` at once.

How the file stops growing: deleted rows' pages go to SQLite's freelist, and
inserts reuse free pages before the file is extended. The writer runs a step
after every reading transaction; eviction starts when the pages in use exceed
the limit and deletes one chunk per step (short transactions, so alarm commits
are never held up for long, and more rows than a reading transaction adds)
until use is under ``LOW_WATER`` of the limit; the file therefore levels off
at about ``max_bytes``. The file is created with ``auto_vacuum=INCREMENTAL``, so when
it is larger than the budget (the budget was lowered) the free pages beyond it
are handed back with ``PRAGMA incremental_vacuum`` without a blocking VACUUM.
The WAL next to it is bounded separately (checkpoints + ``journal_size_limit``).
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge_runtime.logs import LogThrottle

from .connection import transaction
from .statements import synced_ids
from .stats import StoreStats

log = logging.getLogger(__name__)

LOW_WATER = 0.9  # evict down to this fraction of the limit: no eviction every batch
IDLE_WHEN_STUCK_S = 5.0  # over the limit with nothing evictable: look again this much later
ALARM_CHUNK = 200  # closed alarms deleted per step (each with its transitions and verdicts)
_AUTO_VACUUM_INCREMENTAL = 2

_CLOSED_SYNCED_ALARMS = """
    SELECT alarm_id FROM alarms AS a
    WHERE state = 'normal' AND id <= :alarms
      AND NOT EXISTS (SELECT 1 FROM transitions AS t WHERE t.alarm_id = a.alarm_id AND t.id > :transitions)
      AND NOT EXISTS (SELECT 1 FROM verdicts AS v WHERE v.alarm_id = a.alarm_id AND v.id > :verdicts)
    ORDER BY CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, updated_ts
    LIMIT :limit
"""

Marks = dict[str, int]
Step = Callable[[sqlite3.Connection, Marks], dict[str, int]]


class DiskBudget:
    """Run by the writer thread (the only writer) between its transactions."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        stats: StoreStats,
        *,
        min_free_bytes: int,
        chunk_rows: int,
        alarm_chunk: int = ALARM_CHUNK,
    ) -> None:
        self._directory = path.parent
        self._max = max_bytes
        self._min_free = min_free_bytes
        self._stats = stats
        self._chunk = chunk_rows
        self._alarm_chunk = alarm_chunk
        self._evicting = False
        self._stuck_until = 0.0
        self._error_log = LogThrottle(60.0)
        self._unsynced_log = LogThrottle(60.0)
        self._steps: tuple[Step, ...] = (
            self._oldest_synced("readings"),
            self._oldest_synced("exposure_minutes"),
            self._closed_synced_alarms,
            self._oldest_unsynced_readings,
        )

    def step(self, conn: sqlite3.Connection) -> None:
        """One unit of work: evict a chunk if over the limit, give back pages beyond the budget."""
        try:
            self._step(conn)
        except (OSError, sqlite3.Error) as exc:  # a full disk must not stop the writer's pass
            if self._error_log.ready():
                log.error("disk budget step failed: %s", exc)

    def make_room(self, conn: sqlite3.Connection) -> bool:
        """Evict one chunk from the first step that has something; False if none has or could."""
        try:
            marks = synced_ids(conn)
            for step in self._steps:
                with transaction(conn):
                    deleted = step(conn, marks)
                if any(deleted.values()):
                    for table, rows in deleted.items():
                        self._stats.count_evicted(table, rows)
                    return True
        except sqlite3.Error as exc:
            if self._error_log.ready():
                log.error("disk budget could not evict: %s", exc)
        return False

    def _step(self, conn: sqlite3.Connection) -> None:
        page_size, pages, free_pages = _pages(conn)
        file_bytes = pages * page_size
        used = file_bytes - free_pages * page_size
        fs_free = shutil.disk_usage(self._directory).free
        limit = min(self._max, file_bytes + fs_free - self._min_free)
        if not self._evicting and used > limit:
            self._evicting = True
            log.info(
                "database uses %d bytes, limit %d (budget %d, disk free %d): evicting", used, limit, self._max, fs_free
            )
        if self._evicting and time.monotonic() >= self._stuck_until:
            if used <= limit * LOW_WATER:
                self._evicting = False
            elif not self.make_room(conn):
                self._stuck_until = time.monotonic() + IDLE_WHEN_STUCK_S
                if self._error_log.ready():
                    log.warning("database over its %d byte limit with nothing left that may be evicted", limit)
        excess_pages = pages - self._max // page_size
        if excess_pages > 0 and free_pages > 0 and _incremental(conn):
            # executescript steps the pragma to completion; execute() would free one page.
            conn.executescript(f"PRAGMA incremental_vacuum({min(free_pages, excess_pages)})")

    def _oldest_synced(self, table: str) -> Step:
        sql = f"DELETE FROM {table} WHERE id <= min(?, (SELECT min(id) FROM {table}) + ?)"

        def evict(conn: sqlite3.Connection, marks: Marks) -> dict[str, int]:
            return {table: conn.execute(sql, (marks[table], self._chunk - 1)).rowcount}

        return evict

    def _oldest_unsynced_readings(self, conn: sqlite3.Connection, marks: Marks) -> dict[str, int]:
        rows = conn.execute(
            "DELETE FROM readings WHERE id <= (SELECT min(id) FROM readings) + ?", (self._chunk - 1,)
        ).rowcount
        if rows > 0:
            self._stats.evicted_unsynced += rows
            if self._unsynced_log.ready():
                log.warning("disk budget: deleting readings never synced (%d so far)", self._stats.evicted_unsynced)
        return {"readings": rows}

    def _closed_synced_alarms(self, conn: sqlite3.Connection, marks: Marks) -> dict[str, int]:
        ids = [row[0] for row in conn.execute(_CLOSED_SYNCED_ALARMS, {**marks, "limit": self._alarm_chunk})]
        if not ids:
            return {}
        in_ids = f"alarm_id IN ({', '.join('?' * len(ids))})"
        return {
            table: conn.execute(f"DELETE FROM {table} WHERE {in_ids}", ids).rowcount
            for table in ("transitions", "verdicts", "alarms")
        }


def _pages(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(page size, pages in the file, free pages): cheap header reads."""
    return (
        conn.execute("PRAGMA page_size").fetchone()[0],
        conn.execute("PRAGMA page_count").fetchone()[0],
        conn.execute("PRAGMA freelist_count").fetchone()[0],
    )


def _incremental(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("PRAGMA auto_vacuum").fetchone()[0] == _AUTO_VACUUM_INCREMENTAL)

"""Disk budget: keep the database under its limit by deleting what matters least, a little at a time.

Eviction order; a stage runs only when the ones before it have nothing left:

1. readings the cloud already has (``id <=`` outbox mark), oldest first;
2. exposure minutes the cloud already has, oldest first;
3. snapshot rows the cloud already has, oldest first (the JPEG files have
   the snapshot folder's own budget);
4. closed alarms whose row, transitions and verdicts are all synced, low
   priority first, oldest first, together with those transitions and verdicts;
5. thinning: readings the cloud does not have, every other one per (device,
   kind), oldest first, keeping every reading within
   ``StorageSettings.alarm_context_s`` of an alarm (counted in ``thinned``;
   ``thinning.py``);
6. last resort: readings the cloud never got, oldest first, still keeping the
   alarm windows (counted in ``evicted_unsynced`` and logged): losing old
   telemetry beats refusing alarms.

"The cloud has it" means below the mark and not in a range the cloud refused
(``sync_quarantine``): a quarantined range is not in the cloud, so it goes
only where unsynced rows may go (stages 5 and 6), and never for events.
Never evicted: open alarms; unsynced (or quarantined) alarms, transitions,
verdicts and exposure minutes; zone actions; fusion state; outbox marks.

The limit (:func:`byte_limit`) is ``max_bytes``, or less when the file system
is nearly full: eviction also starts when less than ``min_free_bytes`` would
be left, because in WAL mode even a DELETE needs free space (for WAL frames,
and for the checkpoint that copies them into the main file). It is never
below 0; at 0 everything that may be evicted goes. A disk that fills up anyway
(SQLITE_FULL) makes the writer call :meth:`DiskBudget.make_room` at once.

Eviction is incremental, so it never holds up an alarm commit for long. The
writer runs one :meth:`DiskBudget.step` after each reading transaction, after
committing any alarm write that waits. A step is one short DELETE
transaction: what to delete is chosen before the write lock is taken, and the
rows per step shrink when a step takes longer than ``STEP_BUDGET_S`` (and
grow back to ``chunk_rows``). A stage found empty is skipped until the sync
marks move (only they can give it rows again), so an empty stage's query does
not run at every step. Giving pages back is bounded per step too.

How the file stops growing: deleted rows' pages go to SQLite's freelist, and
inserts reuse free pages before the file is extended. Eviction starts when the
pages in use exceed the limit and goes on until use is under ``LOW_WATER`` of
it; the file therefore levels off at about ``max_bytes``. The file is created
with ``auto_vacuum=INCREMENTAL``, so when it is larger than the budget (the
budget was lowered) the free pages beyond it are handed back with ``PRAGMA
incremental_vacuum`` without a blocking VACUUM. The WAL next to it is bounded
separately (checkpoints + ``journal_size_limit``).
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.logs import LogThrottle

from .connection import transaction
from .statements import quarantined_ranges, synced_ids
from .stats import StoreStats
from .thinning import oldest_first, thinning

log = logging.getLogger(__name__)

LOW_WATER = 0.9  # evict down to this fraction of the limit: no eviction every batch
IDLE_WHEN_STUCK_S = 5.0  # over the limit with nothing evictable: look again this much later
ALARM_CHUNK = 200  # closed alarms deleted per step at most (each with its transitions and verdicts)
STEP_BUDGET_S = 0.005  # a step's DELETE transaction should take no longer than this
MIN_ROWS = 50  # rows per step never shrink below this, so eviction always progresses
VACUUM_PAGES_PER_STEP = 256  # pages handed back to the file system per step at most
_AUTO_VACUUM_INCREMENTAL = 2

ALARM_CONTEXT_S = 600.0  # StorageSettings.alarm_context_s


def _refused(table: str, alias: str) -> str:
    return (f"EXISTS (SELECT 1 FROM sync_quarantine AS q WHERE q.tbl = '{table}'"
            f" AND {alias}.id BETWEEN q.first_id AND q.last_id)")


_CLOSED_SYNCED_ALARMS = f"""
    SELECT alarm_id FROM alarms AS a
    WHERE state = 'normal' AND id <= :alarms AND NOT {_refused('alarms', 'a')}
      AND NOT EXISTS (SELECT 1 FROM transitions AS t WHERE t.alarm_id = a.alarm_id
                      AND (t.id > :transitions OR {_refused('transitions', 't')}))
      AND NOT EXISTS (SELECT 1 FROM verdicts AS v WHERE v.alarm_id = a.alarm_id
                      AND (v.id > :verdicts OR {_refused('verdicts', 'v')}))
    ORDER BY CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, updated_ts
    LIMIT :limit
"""

Marks = dict[str, int]
Deletion = Callable[[sqlite3.Connection], dict[str, int]]  # run in the write transaction: rows deleted per table
# What a stage would delete next (chosen outside the write transaction), or None when it has nothing.
Plan = Callable[[sqlite3.Connection, Marks, int], "Deletion | None"]


@dataclass(frozen=True, slots=True)
class Stage:
    """One eviction stage; ``count`` (stages of rows the cloud lacks) is given the readings each step deleted.

    A stage of synced rows found empty is skipped until the marks move (only
    they give it rows again); one of unsynced rows never is: every reading fills it.
    """

    plan: Plan
    count: Callable[[int], None] | None = None


def byte_limit(max_bytes: int, file_bytes: int, fs_free: int, min_free_bytes: int) -> int:
    """The bytes the database may use: its budget, or what leaves ``min_free_bytes`` free on its file system
    (the file's own bytes count as reusable); never below 0."""
    return max(0, min(max_bytes, file_bytes + fs_free - min_free_bytes))


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
        alarm_context_s: float = ALARM_CONTEXT_S,
    ) -> None:
        self._directory = path.parent
        self._max = max_bytes
        self._min_free = min_free_bytes
        self._stats = stats
        self._max_rows = chunk_rows
        self._rows = chunk_rows  # rows per step now: shrinks while steps are slow
        self._alarm_chunk = alarm_chunk
        self._evicting = False
        self._stuck_until = 0.0
        self._error_log = LogThrottle(60.0)
        self._unsynced_log = LogThrottle(60.0)
        self._thinned_log = LogThrottle(60.0)
        self._stages: tuple[Stage, ...] = (
            Stage(self._synced("readings")),
            Stage(self._synced("exposure_minutes")),
            Stage(self._synced("snapshots")),
            Stage(self._closed_synced_alarms),
            Stage(thinning(alarm_context_s).plan, self._count_thinned),
            Stage(oldest_first(alarm_context_s).plan, self._count_unsynced),  # the last resort
        )
        self._empty_under: dict[int, Marks] = {}  # stage -> the marks it was found empty under

    def step(self, conn: sqlite3.Connection) -> None:
        """One short unit of work: evict one chunk if over the limit, give back some pages beyond the budget."""
        try:
            self._step(conn)
        except (OSError, sqlite3.Error) as exc:  # a full disk must not stop the writer's pass
            if self._error_log.ready():
                log.error("disk budget step failed: %s", exc)

    def make_room(self, conn: sqlite3.Connection) -> bool:
        """Evict one chunk from the first stage that has something; False if none has or could."""
        try:
            marks = synced_ids(conn)
            for index, stage in enumerate(self._stages):
                if self._empty_under.get(index) == marks:
                    continue
                deletion = stage.plan(conn, marks, self._rows)
                if deletion is None:
                    if stage.count is None:
                        self._empty_under[index] = marks
                    continue
                deleted = self._delete(conn, deletion)
                if stage.count is not None:
                    stage.count(deleted["readings"])
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
        limit = byte_limit(self._max, file_bytes, fs_free, self._min_free)
        if not self._evicting and used > limit:
            self._evicting = True
            log.info("database uses %d bytes, over its limit of %d: evicting", used, limit,
                     extra=self._why(limit, fs_free))
        if self._evicting and time.monotonic() >= self._stuck_until:
            if used <= limit * LOW_WATER:
                self._evicting = False
            elif not self.make_room(conn):
                self._stuck_until = time.monotonic() + IDLE_WHEN_STUCK_S
                if self._error_log.ready():
                    log.warning("database uses %d bytes, over its limit of %d, and nothing left may be evicted",
                                used, limit, extra=self._why(limit, fs_free))
        excess_pages = pages - self._max // page_size
        if excess_pages > 0 and free_pages > 0 and _incremental(conn):
            # executescript steps the pragma to completion; execute() would free one page.
            conn.executescript(f"PRAGMA incremental_vacuum({min(free_pages, excess_pages, VACUUM_PAGES_PER_STEP)})")

    def _why(self, limit: int, fs_free: int) -> dict[str, int]:
        """Where the limit comes from, for the log: the budget, or the disk when it is the smaller."""
        return {"limit": limit, "budget": self._max, "disk_free": fs_free, "min_free_bytes": self._min_free}

    def _delete(self, conn: sqlite3.Connection, deletion: Deletion) -> dict[str, int]:
        """Run one deletion in its own short transaction; the next ones get fewer rows if it was slow."""
        started = time.perf_counter()
        with transaction(conn):
            deleted = deletion(conn)
        elapsed = time.perf_counter() - started
        if elapsed > STEP_BUDGET_S:
            self._rows = max(MIN_ROWS, self._rows // 2)
        elif elapsed < STEP_BUDGET_S / 4:
            self._rows = min(self._max_rows, self._rows * 2)
        for table, rows in deleted.items():
            self._stats.count_evicted(table, rows)
        return deleted

    def _count_thinned(self, rows: int) -> None:
        if rows:
            self._stats.thinned += rows
            if self._thinned_log.ready():
                log.warning("disk budget: thinning readings not synced yet, alarm context kept (%d so far)",
                            self._stats.thinned)

    def _count_unsynced(self, rows: int) -> None:
        if rows:
            self._stats.evicted_unsynced += rows
            if self._unsynced_log.ready():
                log.warning("disk budget: deleting readings never synced (%d so far)", self._stats.evicted_unsynced)

    def _synced(self, table: str) -> Plan:
        """The oldest ``rows`` ids of ``table`` the cloud has: up to its sync mark, outside refused ranges."""
        delete = f"DELETE FROM {table} WHERE id BETWEEN ? AND ?"
        oldest_after = f"SELECT min(id) FROM {table} WHERE id > ?"

        def plan(conn: sqlite3.Connection, marks: Marks, rows: int) -> Deletion | None:
            mark = marks[table]
            after = 0
            # the rows above the mark end the last durable span like a refused range would
            for refused_first, refused_last in [*quarantined_ranges(conn).get(table, ()), (mark + 1, mark)]:
                first = conn.execute(oldest_after, (after,)).fetchone()[0]
                if first is None:
                    return None
                if first < refused_first:
                    last = min(first + rows - 1, refused_first - 1)
                    return lambda c: {table: c.execute(delete, (first, last)).rowcount}
                after = max(after, refused_last)
            return None

        return plan

    def _closed_synced_alarms(self, conn: sqlite3.Connection, marks: Marks, rows: int) -> Deletion | None:
        limit = min(self._alarm_chunk, rows)
        ids = [row[0] for row in conn.execute(_CLOSED_SYNCED_ALARMS, {**marks, "limit": limit})]
        if not ids:
            return None
        in_ids = f"alarm_id IN ({', '.join('?' * len(ids))})"
        return lambda c: {
            table: c.execute(f"DELETE FROM {table} WHERE {in_ids}", ids).rowcount
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

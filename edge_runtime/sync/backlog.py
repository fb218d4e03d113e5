"""How much each lane still has to send, counted on the read connection.

Rows are counted exactly (``id >`` the mark is a range of the primary key);
bytes are an estimate, rows times the stored size of a sample of the first
waiting rows (a snapshot counts its JPEG, whose size its row holds). The
agent paces the count by what it costs (a week's backlog takes a while to
count on a Pi), so it never becomes the agent's main work.
"""
from __future__ import annotations

from dataclasses import dataclass

from cloud_sync.contract.tables import LANES, Lane
from edge_runtime.store import Outbox
from edge_runtime.store.connection import ReadConnection

from .reader import SOURCES, TIME_COLUMNS
from .state import LaneBacklog

SAMPLE_ROWS = 64


@dataclass(frozen=True, slots=True)
class Disk:
    used_bytes: int
    budget_bytes: int


@dataclass(frozen=True, slots=True)
class Counts:
    lanes: dict[str, LaneBacklog]
    quarantined: int  # ranges
    quarantined_rows: int
    disk: Disk


class BacklogCounter:
    def __init__(self, conn: ReadConnection, outbox: Outbox, budget_bytes: int) -> None:
        self._conn = conn
        self._outbox = outbox
        self._budget = budget_bytes

    def count(self) -> Counts:
        lanes = {lane.value: self._lane(LANES[lane]) for lane in Lane}
        [quarantine] = self._conn.query("SELECT count(*) AS n, coalesce(sum(rows), 0) AS r FROM sync_quarantine")
        with self._conn.cursor() as conn:
            page_size, pages, free = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                                      for p in ("page_size", "page_count", "freelist_count"))
        return Counts(lanes, quarantine["n"], quarantine["r"], Disk((pages - free) * page_size, self._budget))

    def _lane(self, tables: tuple[str, ...]) -> LaneBacklog:
        rows = size = 0
        oldest: float | None = None
        for table in tables:
            backlog = self._table(table)
            rows, size = rows + backlog.rows, size + backlog.bytes
            if backlog.oldest_ts is not None and (oldest is None or backlog.oldest_ts < oldest):
                oldest = backlog.oldest_ts
        return LaneBacklog(rows, size, oldest)

    def _table(self, table: str) -> LaneBacklog:
        mark = self._outbox.high_water_mark(table)
        source = SOURCES[table]
        sample = self._conn.query(source.select(table), (mark, SAMPLE_ROWS))
        if not sample:
            return LaneBacklog()
        if len(sample) < SAMPLE_ROWS:
            rows = len(sample)
        else:
            rows = self._conn.query(f"SELECT count(*) AS n FROM {table} WHERE id > ?", (mark,))[0]["n"]
        average = sum(row["weight"] for row in sample) / len(sample)
        return LaneBacklog(rows, round(rows * average), sample[0][TIME_COLUMNS[table]])

"""The disk budget's last two stages: readings the cloud does not have yet, thinned, then deleted.

Both walk ``readings`` in id order (oldest first) from a cursor kept in
``budget_cursors``, so a restart goes on where the last run stopped, and both
keep every reading within ``alarm_context_s`` of an alarm's ``raised_ts``
(the alarm's context: what the sensors said around it):

* :func:`thinning` drops every other reading of each (device, kind) in the
  rows it scans, outside alarm windows. At the end of the table it starts
  over from the oldest (a second pass halves again), until a whole pass finds
  nothing more to drop.
* :func:`oldest_first` (the last resort) deletes the oldest readings outside
  alarm windows.

Neither looks at the outbox mark: when they run, the budget's first stage has
already deleted every reading the cloud confirmed, so what is left is what it
does not have (including ranges it refused: quarantined). A step scans at most
``SCAN_CHUNKS`` chunks; one that found only alarm context still moves the
cursor (a short transaction), so a long alarm window never stalls the budget.
"""
from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

Deletion = Callable[[sqlite3.Connection], dict[str, int]]
Marks = dict[str, int]
Selector = Callable[[list[tuple[int, str, str, float]], Callable[[float], bool]], list[int]]

SCAN_CHUNKS = 8  # chunks one plan may scan past alarm context before it returns a cursor-only step
_SCAN = "SELECT id, device, kind, ts FROM readings WHERE id > ? ORDER BY id LIMIT ?"
_CURSOR = "SELECT after_id FROM budget_cursors WHERE stage = ?"
_SET_CURSOR = (
    "INSERT INTO budget_cursors (stage, after_id) VALUES (?, ?)"
    " ON CONFLICT (stage) DO UPDATE SET after_id = excluded.after_id"
)


def alarm_windows(conn: sqlite3.Connection, low: float, high: float, context_s: float) -> Callable[[float], bool]:
    """A test "is ``ts`` within ``context_s`` of an alarm's raise", for times in [low, high]."""
    raised = [row[0] for row in conn.execute(
        "SELECT raised_ts FROM alarms WHERE raised_ts BETWEEN ? AND ? ORDER BY raised_ts",
        (low - context_s, high + context_s))]

    def covered(ts: float) -> bool:
        i = bisect.bisect_left(raised, ts - context_s)
        return i < len(raised) and raised[i] <= ts + context_s

    return covered


def every_other(rows: list[tuple[int, str, str, float]], covered: Callable[[float], bool]) -> list[int]:
    """Thinning: the second, fourth, ... reading of each (device, kind) outside alarm windows."""
    seen: dict[tuple[str, str], int] = {}
    dropped = []
    for rowid, device, kind, ts in rows:
        if covered(ts):
            continue
        n = seen[device, kind] = seen.get((device, kind), 0) + 1
        if n % 2 == 0:
            dropped.append(rowid)
    return dropped


def all_outside(rows: list[tuple[int, str, str, float]], covered: Callable[[float], bool]) -> list[int]:
    """The last resort: every reading outside alarm windows."""
    return [rowid for rowid, _device, _kind, ts in rows if not covered(ts)]


@dataclass(slots=True)
class ReadingScan:
    """One cursor walk over the readings: a budget stage (``plan``), see the module docstring.

    ``scan_factor`` rows are scanned per row the step may delete (thinning
    drops about half of what it scans). At the end of the table it starts
    over from the oldest, unless the whole pass since the last start deleted
    nothing: then the stage has nothing (``None``) until new rows come.
    """

    stage: str
    select: Selector
    context_s: float
    scan_factor: int = 1
    _deleted_since_wrap: int | None = None  # None: the pass began before this process

    def plan(self, conn: sqlite3.Connection, _marks: Marks, rows: int) -> Deletion | None:
        row = conn.execute(_CURSOR, (self.stage,)).fetchone()
        after = start = row[0] if row else 0
        for _ in range(SCAN_CHUNKS):
            chunk = conn.execute(_SCAN, (after, rows * self.scan_factor)).fetchall()
            if not chunk:
                if after == 0:  # no readings at all
                    return None
                if self._deleted_since_wrap == 0:  # a whole pass found nothing: keep where it got to
                    return None if after == start else self._step(after, [])
                after, self._deleted_since_wrap = 0, 0
                continue
            covered = alarm_windows(conn, min(r[3] for r in chunk), max(r[3] for r in chunk), self.context_s)
            doomed = self.select(chunk, covered)
            after = chunk[-1][0]
            if doomed:
                return self._step(after, doomed)
        return self._step(after, [])

    def _step(self, after: int, doomed: list[int]) -> Deletion:
        def delete(conn: sqlite3.Connection) -> dict[str, int]:
            conn.execute(_SET_CURSOR, (self.stage, after))
            deleted = 0
            for i in range(0, len(doomed), 500):  # within SQLite's bound on variables
                part = doomed[i:i + 500]
                deleted += conn.execute(f"DELETE FROM readings WHERE id IN ({', '.join('?' * len(part))})",
                                        part).rowcount
            if self._deleted_since_wrap is not None:
                self._deleted_since_wrap += deleted
            return {"readings": deleted}

        return delete


def thinning(context_s: float) -> ReadingScan:
    return ReadingScan("thinning", every_other, context_s, scan_factor=2)


def oldest_first(context_s: float) -> ReadingScan:
    return ReadingScan("last_resort", all_outside, context_s)

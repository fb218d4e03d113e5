"""The journal: alarm writes held while the database cannot take them, replayed in order and once.

While the writer cannot commit (the file cannot be opened, SQLITE_FULL, an I/O
error, a read-only file system), every unit of alarm writes (an alarm row with
its transition and verdict: one ``put_priority``) is numbered and held: in
memory up to ``max_items``, and appended to this run's spill file
(``spill.py``). A unit that fits in neither is lost and counted
(``journal_lost``). Readings are never held: the writer sheds them.

Replay, once the database takes writes again, goes oldest first: the files
earlier runs left (found at start), then this run's units, those of its spill
file and those in memory merged by number (a unit in both is one unit). Each
transaction commits a chunk of units with the mark "units up to N of file F
are in" (table ``spill_replayed``), so a crash part-way never commits a unit
twice: the next replay skips what the mark covers. A file is removed once all
of it is in, then its mark.
"""
from __future__ import annotations

import heapq
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from edge_runtime.logs import LogThrottle

from .spill import SpillFile, Unit, count_units, read_units
from .statements import Write
from .stats import StoreStats

log = logging.getLogger(__name__)

CHUNK = 100  # units per replay transaction
MARK_SQL = (
    "INSERT INTO spill_replayed (file, seq) VALUES (?, ?)"
    " ON CONFLICT (file) DO UPDATE SET seq = max(seq, excluded.seq)"
)
FORGET_SQL = "DELETE FROM spill_replayed WHERE file = ?"
_MARK_OF_SQL = "SELECT seq FROM spill_replayed WHERE file = ?"

# Commits the units of the queue in order, popping each committed one; raises sqlite3.Error when the
# database fails, with what it did not commit still queued.
Commit = Callable[[deque[Unit]], None]
ReadMark = Callable[[str], int]  # the highest unit number of a file already committed (0: none)


class Journal:
    """Owned by the writer thread; ``len()`` is every unit still to be committed."""

    def __init__(self, stats: StoreStats, *, max_items: int, spill: SpillFile | None) -> None:
        self._stats = stats
        self._max = max_items
        self._spill = spill
        self._memory: deque[Unit] = deque()
        self._file_only = 0  # units of this run in its spill file only (memory was full)
        self._unspilled: set[int] = set()  # numbers of the units in memory only (gone if the process ends)
        # units still to commit of each file earlier runs left, oldest first
        self._earlier = {path: count_units(path) for path in (spill.earlier() if spill is not None else [])}
        self._next_seq = 1
        self._lost_log = LogThrottle(60.0)
        if self._earlier:
            log.warning("spill files of earlier runs found: replayed once the database takes writes",
                        extra={"files": [str(p) for p in self._earlier], "units": sum(self._earlier.values())})

    def __len__(self) -> int:
        return len(self._memory) + self._file_only + sum(self._earlier.values())

    @property
    def unspilled(self) -> int:
        """Units held in memory only: lost if the process ends before the database takes them."""
        return len(self._unspilled)

    def hold(self, writes: tuple[Write, ...]) -> None:
        """Keep one unit that could not be committed (after every unit held before it)."""
        unit = Unit(self._next_seq, writes)
        self._next_seq += 1
        stats = self._stats
        stats.journal_held += 1
        spilled = self._spill is not None and self._spill.append(unit)
        if len(self._memory) < self._max:
            self._memory.append(unit)
            if not spilled:
                self._unspilled.add(unit.seq)
            stats.journal_depth = len(self._memory)
            stats.journal_high_water = max(stats.journal_high_water, stats.journal_depth)
        elif spilled:
            self._file_only += 1
        else:
            stats.journal_lost += 1
            if self._lost_log.ready():
                log.error("alarm writes lost: the journal is full and the spill file cannot take them",
                          extra={"lost": stats.journal_lost, "max_items": self._max})

    def replay(self, commit: Commit, read_mark: ReadMark) -> int:
        """Commit everything held, oldest first; returns how many units. Raises what ``commit`` raises,
        with the rest still held (the next call goes on from there)."""
        replayed = 0
        while self._earlier:
            path = next(iter(self._earlier))
            done = read_mark(path.name)
            replayed += self._commit_all((u for u in read_units(path, self._stats) if u.seq > done), path, commit)
            del self._earlier[path]
            self._removed(path, commit)
        current = self._spill.path if self._spill is not None and self._spill.exists else None
        from_file: Iterable[Unit] = ()
        if current is not None and self._file_only:
            done = read_mark(current.name)
            from_file = (u for u in read_units(current, self._stats) if u.seq > done)
        replayed += self._commit_all(_merged(from_file, list(self._memory)), current, commit)
        self._file_only = 0
        if current is not None:
            self._removed(current, commit)
        return replayed

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()

    def _commit_all(self, units: Iterator[Unit] | Iterable[Unit], path: Path | None, commit: Commit) -> int:
        units = iter(units)
        total = 0
        while chunk := list(islice(units, CHUNK)):
            queue = deque(chunk if path is None else [_marked(u, path.name) for u in chunk])
            try:
                commit(queue)
            finally:
                done = len(chunk) - len(queue)
                total += done
                if done:
                    self._committed(chunk[done - 1].seq, done, path)
        return total

    def _committed(self, up_to: int, count: int, path: Path | None) -> None:
        """``count`` units up to number ``up_to`` are in the database: hold them no longer."""
        stats = self._stats
        stats.replayed += count
        if path in self._earlier:
            self._earlier[path] = max(self._earlier[path] - count, 0)
            return
        popped = 0
        while self._memory and self._memory[0].seq <= up_to:
            self._unspilled.discard(self._memory.popleft().seq)
            popped += 1
        self._file_only = max(self._file_only - (count - popped), 0)
        stats.journal_depth = len(self._memory)

    def _removed(self, path: Path, commit: Commit) -> None:
        """All of ``path`` is in: delete the file, then its mark. A file that cannot be deleted keeps its
        mark, so no later replay commits it again (a stale mark is harmless, a missing one is not)."""
        assert self._spill is not None
        if self._spill.remove(path):
            commit(deque([Unit(0, (Write("spill_replayed", FORGET_SQL, (path.name,)),))]))


def replay_mark(conn: sqlite3.Connection, file: str) -> int:
    """The highest unit of spill file ``file`` already committed (0: none)."""
    row = conn.execute(_MARK_OF_SQL, (file,)).fetchone()
    return int(row[0]) if row else 0


def _marked(unit: Unit, file: str) -> Unit:
    """The unit with the write that records it as replayed, committed in its transaction."""
    return Unit(unit.seq, (*unit.writes, Write("spill_replayed", MARK_SQL, (file, unit.seq))))


def _merged(from_file: Iterable[Unit], from_memory: Iterable[Unit]) -> Iterator[Unit]:
    """Both in number order, each unit once."""
    last = 0
    for unit in heapq.merge(from_file, from_memory, key=lambda u: u.seq):
        if unit.seq != last:
            last = unit.seq
            yield unit

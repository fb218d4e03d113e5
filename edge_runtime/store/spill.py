"""Spill files: alarm writes the database could not take, on a disk that may still take them.

One append-only file per store process run
(``<database name>.spill-<start ns>-<pid>.jsonl``) in ``storage.spill_path``
(default: the database's directory; one on another file system keeps working
when the database's disk is full). Each line is one unit of writes that
commit together (an alarm row, its transition, its verdict), written and
fsync'd before the next: ``{"seq": N, "writes": [[table, {column: value}],
...]}``. Only the alarm statements are spilled, and a line names its table
and columns, not SQL: read back, it becomes an INSERT into one of the three
alarm tables with bound values, so a file can run nothing else, and a file
written before a migration added columns still replays (they take their
defaults). The journal (``journal.py``) replays the files of earlier runs,
oldest first, then this run's, and removes each once it is committed.

A line that cannot be written (no space, no directory, past ``max_bytes``)
is not an error: the unit stays in memory only, counted in ``spill_errors``.
A failed append is cut off again, so a torn line can only be the last one;
unreadable lines are skipped and counted in ``spill_unreadable``.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from edge_runtime.logs import LogThrottle

from .rows import ALARM_SQL, TRANSITION_SQL, VERDICT_SQL
from .statements import Write
from .stats import StoreStats

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
SQL_OF_TABLE = {"alarms": ALARM_SQL, "transitions": TRANSITION_SQL, "verdicts": VERDICT_SQL}
_JSON = json.JSONEncoder(separators=(",", ":"))
_INSERT = re.compile(r"(INSERT(?: OR REPLACE)?) INTO (\w+) \(([^)]*)\) VALUES")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Unit(NamedTuple):
    """Writes that commit together, numbered in the order the store process received them."""

    seq: int
    writes: tuple[Write, ...]


class SpillFile:
    """This run's spill file (created on the first append) and the files earlier runs left beside it."""

    def __init__(self, directory: Path, database: Path, max_bytes: int, stats: StoreStats) -> None:
        self.directory = directory
        self._prefix = f"{database.name}.spill-"  # databases sharing a directory keep their own files
        self.path = directory / f"{self._prefix}{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        self._max = max_bytes
        self._stats = stats
        self._fd: int | None = None
        self._size = 0
        self._error_log = LogThrottle(60.0)

    def earlier(self) -> list[Path]:
        """Files of earlier runs, oldest first (their names sort by start time)."""
        try:
            found = sorted(self.directory.glob(f"{glob.escape(self._prefix)}*{SUFFIX}"))
        except OSError:
            return []
        return [path for path in found if path != self.path]

    @property
    def exists(self) -> bool:
        """Whether this run has appended anything not removed yet."""
        return self._fd is not None

    def append(self, unit: Unit) -> bool:
        """Write one line and fsync it; False (counted) if it cannot be, or cannot be read back as it is."""
        data = _encode(unit)
        if data is None or self._size + len(data) > self._max:
            return self._failed("it does not fit" if data is not None else "it holds other statements")
        try:
            if self._fd is None:
                self._create()
            assert self._fd is not None
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as exc:
            if self._fd is not None:
                with suppress(OSError):
                    os.ftruncate(self._fd, self._size)  # no torn line before the next one
            return self._failed(str(exc))
        self._size += len(data)
        self._stats.spilled += 1
        return True

    def remove(self, path: Path) -> bool:
        """Delete a file whose every line is committed (this run's starts again empty); False if it cannot be."""
        if path == self.path and self._fd is not None:
            os.close(self._fd)
            self._fd, self._size = None, 0
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("a replayed spill file cannot be removed; it is marked as replayed instead: %s", exc,
                        extra={"spill": str(path)})
            return False
        _fsync_directory(self.directory)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        _fsync_directory(self.directory)  # the new name survives a power cut too

    def _failed(self, why: str) -> bool:
        self._stats.spill_errors += 1
        if self._error_log.ready():
            log.warning("alarm writes held in memory only: the spill file cannot take them (%s)", why,
                        extra={"spill": str(self.path), "spill_errors": self._stats.spill_errors})
        return False


def read_units(path: Path, stats: StoreStats) -> Iterator[Unit]:
    """The units of a spill file in file order; unreadable lines are skipped and counted."""
    try:
        lines = path.open("rb")
    except FileNotFoundError:
        return
    with lines:
        for line in lines:
            unit = _decode(line)
            if unit is None:
                stats.spill_unreadable += 1
                log.warning("skipping an unreadable line of a spill file", extra={"spill": str(path)})
                continue
            yield unit


def count_units(path: Path) -> int:
    """Lines in a spill file (what it holds, before it is read)."""
    try:
        with path.open("rb") as lines:
            return sum(1 for _ in lines)
    except OSError:
        return 0


def _encode(unit: Unit) -> bytes | None:
    """The unit's line, or None if it holds another statement than the alarm tables' own."""
    writes = []
    for w in unit.writes:
        if SQL_OF_TABLE.get(w.table) != w.sql:
            return None
        columns = _columns(w.sql)
        if not columns or len(columns) != len(w.params):
            return None
        writes.append([w.table, dict(zip(columns, w.params))])
    try:
        line = _JSON.encode({"seq": unit.seq, "writes": writes})
    except (TypeError, ValueError):
        return None
    return line.encode() + b"\n"


def _decode(line: bytes) -> Unit | None:
    try:
        record = json.loads(line)
        writes = tuple(Write(table, _statement(table, tuple(values)), tuple(values.values()))
                       for table, values in record["writes"])
        return Unit(int(record["seq"]), writes)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


@lru_cache(maxsize=8)
def _columns(sql: str) -> tuple[str, ...]:
    """The column names of one of the alarm tables' INSERT statements."""
    match = _INSERT.match(sql)
    return tuple(c.strip().strip('"') for c in match.group(3).split(",")) if match else ()


@lru_cache(maxsize=64)
def _statement(table: str, columns: tuple[str, ...]) -> str:
    """The INSERT for ``columns`` of ``table``, as the table's own statement does it (upsert or append);
    KeyError for another table, ValueError for a name that is not a plain column name."""
    match = _INSERT.match(SQL_OF_TABLE[table])
    if match is None or not columns or not all(_COLUMN.fullmatch(c) for c in columns):
        raise ValueError(f"not a spilled write of {table}: {columns!r}")
    names = ", ".join(f'"{c}"' for c in columns)
    return f"{match.group(1)} INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"


def _fsync_directory(directory: Path) -> None:
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

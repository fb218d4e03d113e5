"""Transactions on the store's write connection, for the writer thread only.

Each is timed (``StoreStats``), FULL-synced when it must survive a power cut
(alarm writes), and committed so that a unit the database refuses as such (a
bug: no such table, a constraint) is dropped alone, logged and counted, and
cannot block the units behind it. A failure of the environment (disk full,
I/O, read-only, locks: ``connection.is_transient``) is raised to the writer,
which holds the units instead (``journal.py``).
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from itertools import islice
from typing import Protocol, TypeVar

from edge_runtime.logs import LogThrottle

from .connection import is_transient, transaction
from .statements import Write
from .stats import StoreStats

log = logging.getLogger(__name__)
T = TypeVar("T")


class Committable(Protocol):
    """Writes that commit together (a live alarm item, a low-priority write, a unit replayed from the journal)."""

    @property
    def writes(self) -> tuple[Write, ...]: ...


U = TypeVar("U", bound=Committable)


class Transactions:
    """``conn`` in autocommit mode (``connection.connect``); ``on_commit`` runs after each successful commit."""

    def __init__(self, conn: sqlite3.Connection, stats: StoreStats, *, on_commit: Callable[[], None]) -> None:
        self.conn = conn
        self._stats = stats
        self._on_commit = on_commit
        self._error_log = LogThrottle()

    def run(self, body: Callable[[sqlite3.Connection], T], *, durable: bool) -> T:
        """Run ``body`` in a transaction, FULL-synced when ``durable``, and time it."""
        conn = self.conn
        started = time.perf_counter()
        if durable:
            conn.execute("PRAGMA synchronous=FULL")
        try:
            with transaction(conn):
                result = body(conn)
        except sqlite3.Error:
            self._stats.write_errors += 1
            raise
        finally:
            if durable:
                with suppress(sqlite3.Error):
                    conn.execute("PRAGMA synchronous=NORMAL")
        elapsed_ms = (time.perf_counter() - started) * 1000
        stats = self._stats
        stats.transactions += 1
        stats.write_ms_total += elapsed_ms
        stats.write_ms_max = max(stats.write_ms_max, elapsed_ms)
        self._on_commit()
        return result

    def commit_queue(self, queue: deque[U], *, durable: bool) -> tuple[list[U], bool]:
        """Commit what is queued now in one transaction, popping it; returns what was committed, and False if a
        unit was refused (dropped alone). A failure of the environment raises, with what was not committed
        still queued."""
        n = len(queue)
        units = list(islice(queue, n))  # producers only append: the first n stay these
        if not units:
            return units, True
        try:
            self.run(lambda conn: _execute(conn, units), durable=durable)
        except sqlite3.Error as exc:
            if is_transient(exc):
                raise
            return self._one_by_one(queue, n, durable=durable)
        for _ in range(n):
            queue.popleft()
        self._count(units)
        return units, True

    def dropped(self, exc: sqlite3.Error, rows: int) -> bool:
        """Count (and log, throttled) rows given up; always False, for the caller's result."""
        self._stats.dropped_on_error += rows
        if self._error_log.ready():
            log.error("store write failed (%s); %d rows dropped (total %d)", exc, rows, self._stats.dropped_on_error)
        return False

    def _one_by_one(self, queue: deque[U], n: int, *, durable: bool) -> tuple[list[U], bool]:
        committed: list[U] = []
        ok = True
        for _ in range(n):
            unit = queue[0]
            try:
                self.run(lambda conn: _execute(conn, (unit,)), durable=durable)
            except sqlite3.Error as exc:
                if is_transient(exc):
                    raise
                log.error("dropping writes the database refuses (%s): %r", exc, unit.writes)
                ok = self.dropped(exc, len(unit.writes))
            else:
                committed.append(unit)
            queue.popleft()
        self._count(committed)
        return committed, ok

    def _count(self, units: Sequence[Committable]) -> None:
        stats = self._stats
        for unit in units:
            for write in unit.writes:
                stats.count_written(write.table, 1)


def _execute(conn: sqlite3.Connection, units: Sequence[Committable]) -> None:
    for unit in units:
        for write in unit.writes:
            conn.execute(write.sql, write.params)

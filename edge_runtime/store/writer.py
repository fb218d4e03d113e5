"""The one writer thread, in the store process: every row reaches SQLite through it.

Producers (the store process's intake, fed by the producer channels) only
append to deques, which never block. The thread commits three kinds of work:

* priority items (alarm transitions, verdicts): committed as soon as the
  thread wakes, between reading batches too, with ``synchronous=FULL`` when
  ``fsync`` is on so an alarm that was announced survives a power cut, not
  just a crash. On a disk error they stay queued, in order, and are retried
  every pass: an announced alarm is never dropped for a full disk.
* readings: rows already built (by the intake or a producer), inserted with
  ``executemany`` every ``flush_interval_s``, or as soon as ``batch_size`` of
  them wait, in transactions of at most ``ROWS_PER_TRANSACTION`` rows. On a
  disk error the rows are dropped and counted: producers never wait for the disk.
* other writes (exposure minutes, fusion state, outbox marks): committed with
  the timed flush; kept and retried on a disk error.

A priority commit waits at most for the reading transaction in flight (and a
WAL checkpoint, which SQLite runs inside a commit every ~4 MB of WAL), so its
latency does not grow with the backlog.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from edge_runtime.logs import LogThrottle

from .connection import is_disk_full, is_transient, transaction
from .rows import READING_SQL
from .statements import Row, Write
from .stats import StoreStats

if TYPE_CHECKING:
    from .budget import DiskBudget

log = logging.getLogger(__name__)
T = TypeVar("T")

# Readings are committed in transactions of at most this many rows: an alarm
# arriving mid-flush waits for one of them (~1 ms), not for a whole batch, and
# throughput is the same as with larger transactions (measured: bench/store_write.py).
ROWS_PER_TRANSACTION = 500


@dataclass(frozen=True, slots=True)
class _Item:
    """Writes that commit together (an alarm upsert with its transition and verdict)."""

    writes: tuple[Write, ...]
    queued_at: float = field(default_factory=time.perf_counter)  # CLOCK_MONOTONIC: comparable across processes


class _FlushWaiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class Writer:
    """Owns the write connection once started; all public methods are thread-safe."""

    def __init__(
        self,
        stats: StoreStats,
        *,
        batch_size: int,
        flush_interval_s: float,
        max_queued_readings: int,
        fsync: bool,
    ) -> None:
        self._stats = stats
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_queued = max_queued_readings
        self._fsync = fsync
        self._readings: deque[Row] = deque()
        self._writes: deque[_Item] = deque()
        self._priority: deque[_Item] = deque()
        self._no_priority = threading.Event()  # clear while an alarm write waits for its first attempt
        self._no_priority.set()
        self._waiters: list[_FlushWaiter] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._budget: DiskBudget | None = None
        self._error_log = LogThrottle()

    # --- producer side: any thread, never blocks --------------------------------

    def put_rows(self, rows: Sequence[Row]) -> None:
        """Queue ``readings`` rows; what does not fit under ``max_queued_readings`` is dropped and counted."""
        readings = self._readings
        room = max(self._max_queued - len(readings), 0)
        stats = self._stats
        if len(rows) > room:
            stats.dropped_overflow += len(rows) - room
            stats.writer_shed += len(rows) - room
            rows = rows[:room]
        readings.extend(rows)
        stats.writer_enqueued += len(rows)
        if len(readings) > stats.writer_high_water:
            stats.writer_high_water = len(readings)
        if len(readings) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def put(self, write: Write) -> None:
        """Queue a low-priority write; it commits with the next timed flush."""
        self._writes.append(_Item((write,)))

    def put_priority(self, writes: tuple[Write, ...], queued_at: float | None = None) -> None:
        """Queue writes that must be durable now, in one transaction.

        ``queued_at`` (``time.perf_counter()`` when the producer took them) makes
        the latency stats cover the trip from the producer's process too.
        """
        self._no_priority.clear()
        self._priority.append(_Item(writes) if queued_at is None else _Item(writes, queued_at))
        self._wake.set()

    def yield_to_priority(self, timeout: float) -> None:
        """Bulk work in this process calls this between its steps: while an alarm write waits, it pauses
        (up to ``timeout``), so the commit does not queue for the interpreter lock at every statement."""
        if not self._no_priority.is_set():
            self._no_priority.wait(timeout)

    @property
    def queue_depth(self) -> int:
        return len(self._readings) + len(self._writes) + len(self._priority)

    # --- lifecycle ---------------------------------------------------------------

    def start(self, conn: sqlite3.Connection, budget: DiskBudget | None) -> None:
        """Take ownership of ``conn`` (closed by :meth:`stop`) and start the thread."""
        self._conn, self._budget = conn, budget
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Block until everything queued before the call is committed (False on timeout or error)."""
        if self._thread is None or not self._thread.is_alive():
            return self.queue_depth == 0
        waiter = _FlushWaiter()
        with self._lock:
            self._waiters.append(waiter)
        self._wake.set()
        return waiter.done.wait(timeout) and waiter.ok

    def stop(self, timeout: float) -> bool:
        """Commit what is queued, stop the thread and close the connection."""
        if self._thread is None:
            return True
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("store writer did not stop within %.1fs; %d items still queued", timeout, self.queue_depth)
            return False
        return True

    # --- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        assert self._conn is not None
        next_flush = time.monotonic() + self._interval
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
            stopping = self._stopping
            try:
                ok = self._commit_priority()
                now = time.monotonic()
                timed = now >= next_flush
                if timed:
                    next_flush = now + self._interval
                drain = timed or stopping or bool(waiters)
                ok = self._write_readings(drain) and ok
                if drain:
                    ok = self._commit_items(self._writes, durable=False) and ok
                self._budget_step()
            except Exception:  # a bug here must not kill the only writer
                ok = False
                if self._error_log.ready():
                    log.exception("store writer pass failed")
            for waiter in waiters:
                waiter.ok = ok and not self._priority
                waiter.done.set()
            if stopping:
                break
        self._close()

    def _close(self) -> None:
        assert self._conn is not None
        if self._priority:
            log.error("store closing with %d alarm writes that never reached the disk", len(self._priority))
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("final WAL checkpoint failed: %s", exc)
        self._conn.close()

    def _write_readings(self, drain: bool) -> bool:
        """Commit what is queued if it is time (``drain``) or a full batch is waiting."""
        ok = True
        queued = len(self._readings)
        remaining = queued if drain or queued >= self._batch_size else 0
        while remaining > 0:
            n = min(remaining, ROWS_PER_TRANSACTION)
            remaining -= n
            ok = self._commit_readings(n) and ok
            self._budget_step()  # eviction keeps pace with ingest, chunk for chunk
            if self._priority:  # alarms never wait behind a reading backlog
                ok = self._commit_priority() and ok
        return ok

    def _commit_readings(self, n: int) -> bool:
        popleft = self._readings.popleft
        rows = [popleft() for _ in range(n)]
        try:
            self._insert_readings(rows)
        except sqlite3.Error as exc:
            if not (is_disk_full(exc) and self._make_room()):
                return self._dropped(exc, len(rows))
            try:
                self._insert_readings(rows)
            except sqlite3.Error as retry_exc:
                return self._dropped(retry_exc, len(rows))
        return True

    def _insert_readings(self, rows: list[Row]) -> None:
        cursor = self._timed(lambda conn: conn.executemany(READING_SQL, rows), durable=False)
        self._stats.batches += 1
        self._stats.count_written("readings", cursor.rowcount)

    def _commit_priority(self) -> bool:
        """Commit the alarm writes; bulk work resumes after the attempt (a failed one is retried next pass)."""
        ok = self._commit_items(self._priority, durable=self._fsync)
        if not ok or not self._priority:
            self._no_priority.set()
        return ok

    def _commit_items(self, queue: deque[_Item], *, durable: bool) -> bool:
        """Commit every queued item in one transaction; on a disk error put them back."""
        if not queue:
            return True
        items = [queue.popleft() for _ in range(len(queue))]
        try:
            self._timed(lambda conn: _execute(conn, items), durable=durable)
        except sqlite3.Error as exc:
            if not is_transient(exc):
                # A write the database refuses would block every later one: find it, drop it.
                return self._commit_one_by_one(queue, items, durable=durable)
            self._keep_for_retry(queue, items, exc)
            return False
        self._count(items, priority=queue is self._priority)
        return True

    def _commit_one_by_one(self, queue: deque[_Item], items: list[_Item], *, durable: bool) -> bool:
        ok = True
        for i, item in enumerate(items):
            try:
                self._timed(partial(_execute, items=(item,)), durable=durable)
            except sqlite3.Error as exc:
                if is_transient(exc):
                    self._keep_for_retry(queue, items[i:], exc)
                    return False
                log.error("dropping writes the database refuses (%s): %r", exc, item.writes)
                ok = self._dropped(exc, len(item.writes))
            else:
                self._count([item], priority=queue is self._priority)
        return ok

    def _keep_for_retry(self, queue: deque[_Item], items: list[_Item], exc: sqlite3.Error) -> None:
        if is_disk_full(exc):
            self._make_room()
        queue.extendleft(reversed(items))
        self._stats.priority_pending_retry = len(self._priority)
        if self._error_log.ready():
            log.error("store write failed (%s); %d writes kept for retry", exc, len(queue))

    def _count(self, items: Sequence[_Item], *, priority: bool) -> None:
        stats = self._stats
        for item in items:
            for write in item.writes:
                stats.count_written(write.table, 1)
        if priority:
            now = time.perf_counter()
            for item in items:
                latency_ms = (now - item.queued_at) * 1000
                stats.priority_latency_ms_total += latency_ms
                stats.priority_latency_ms_max = max(stats.priority_latency_ms_max, latency_ms)
            stats.priority_commits += len(items)
            stats.priority_pending_retry = len(self._priority)

    def _timed(self, body: Callable[[sqlite3.Connection], T], *, durable: bool) -> T:
        """Run ``body`` in a transaction, FULL-synced when ``durable``, and time it."""
        conn = self._conn
        assert conn is not None
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
        return result

    def _budget_step(self) -> None:
        if self._budget is not None:
            assert self._conn is not None
            self._budget.step(self._conn)

    def _make_room(self) -> bool:
        assert self._conn is not None
        return self._budget is not None and self._budget.make_room(self._conn)

    def _dropped(self, exc: sqlite3.Error, rows: int) -> bool:
        self._stats.dropped_on_error += rows
        if self._error_log.ready():
            log.error("store write failed (%s); %d rows dropped (total %d)", exc, rows, self._stats.dropped_on_error)
        return False


def _execute(conn: sqlite3.Connection, items: Sequence[_Item]) -> None:
    for item in items:
        for write in item.writes:
            conn.execute(write.sql, write.params)

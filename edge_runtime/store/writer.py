"""The one writer thread, in the store process: every row reaches SQLite through it.

Producers (the store process's intake, fed by the producer channels) only
append to deques, which never block. The thread commits three kinds of work:

* priority items (alarm transitions, verdicts): committed as soon as the
  thread wakes, between reading batches too, with ``synchronous=FULL`` when
  ``fsync`` is on so an alarm that was announced survives a power cut, not
  just a crash.
* readings: rows already built (by the intake or a producer), inserted with
  ``executemany`` every ``flush_interval_s``, or as soon as ``batch_size`` of
  them wait, in transactions of at most ``ROWS_PER_TRANSACTION`` rows.
* other writes (exposure minutes, fusion state, outbox marks): committed with
  the timed flush.

A priority commit waits at most for the reading transaction in flight (and a
WAL checkpoint, which SQLite runs inside a commit every ~4 MB of WAL), so its
latency does not grow with the backlog; the disk budget's step comes after it.

When the database cannot be opened or written (disk full, I/O error,
read-only, a lock held too long: ``is_transient``), the store fails safe
instead of failing: ``stats.failure`` says why (until a commit succeeds
again), alarm writes go to the journal (``journal.py``: memory and a spill
file) in order, readings are shed and counted, other writes wait in memory up
to ``max_queued_readings``. Every ``retry_interval_s`` (and at once for a
flush) the writer opens the database again if it has to and replays the
journal; live alarm writes are committed only after it, so order holds.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from edge_runtime.logs import LogThrottle

from .connection import is_disk_full, is_transient
from .journal import Journal, replay_mark
from .rows import READING_SQL
from .spill import Unit
from .statements import Row, Write
from .stats import StoreStats
from .transactions import Transactions

if TYPE_CHECKING:
    from .budget import DiskBudget

log = logging.getLogger(__name__)

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
        journal: Journal,
        *,
        batch_size: int,
        flush_interval_s: float,
        max_queued_readings: int,
        fsync: bool,
        retry_interval_s: float,
    ) -> None:
        self._stats = stats
        self._journal = journal
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_queued = max_queued_readings
        self._fsync = fsync
        self._retry_s = retry_interval_s
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
        self._opener: Callable[[], sqlite3.Connection] | None = None
        self._tx: Transactions | None = None  # on the write connection, once it is open
        self._budget: DiskBudget | None = None
        self._holding = False  # the database failed: hold, shed and wait for the next retry
        self._retry_at = 0.0
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

    def start(self, opener: Callable[[], sqlite3.Connection], budget: DiskBudget | None) -> None:
        """Open (and migrate) the database now if it can be, then start the thread, whose first pass
        commits what earlier runs spilled: the daemon's start, and its first alarm, never wait for that.

        ``opener`` returns a migrated write connection (closed by :meth:`stop`); a database it cannot open
        now is not an error: the thread tries again every ``retry_interval_s``."""
        self._opener, self._budget = opener, budget
        try:
            self._open()
        except (OSError, sqlite3.Error) as exc:
            self._fail(exc)
        else:
            self._holding, self._retry_at = bool(self._journal), 0.0  # replay first, before new alarm writes
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
        next_flush = time.monotonic() + self._interval
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
            stopping = self._stopping
            try:
                now = time.monotonic()
                timed = now >= next_flush
                if timed:
                    next_flush = now + self._interval
                ok = self._pass(drain=timed or stopping or bool(waiters), retry_now=stopping or bool(waiters))
            except Exception:  # a bug here must not kill the only writer
                ok = False
                if self._error_log.ready():
                    log.exception("store writer pass failed")
            self._stats.priority_pending_retry = len(self._journal)
            for waiter in waiters:
                waiter.ok = ok and not self._priority and not self._journal
                waiter.done.set()
            if stopping:
                break
        self._close()

    def _pass(self, *, drain: bool, retry_now: bool) -> bool:
        """One round of commits; while the database fails, hold instead (and retry when it is time)."""
        if self._holding and not ((retry_now or time.monotonic() >= self._retry_at) and self._recover()):
            self._hold()
            return False
        ok = self._commit_priority()
        ok = self._write_readings(drain) and ok
        if drain:
            ok = self._commit_writes() and ok
        self._budget_step()
        if self._holding:
            self._hold()
            return False
        return ok

    def _close(self) -> None:
        if self._journal:
            log.error("store closing with %d alarm writes the database never took: the spill file keeps them for "
                      "the next run, except %d held in memory only, which are lost",
                      len(self._journal), self._journal.unspilled)
        self._journal.close()
        if self._tx is None:
            return
        try:
            self._tx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("final WAL checkpoint failed: %s", exc)
        self._tx.conn.close()

    # --- failing safe ----------------------------------------------------------------

    def _recover(self) -> bool:
        """Open the database if it is not, then commit what the journal holds, oldest first; False if it
        still fails (the failure is recorded and retried later)."""
        try:
            self._open()
            replayed = self._journal.replay(self._commit_held, partial(replay_mark, self._tx.conn))
        except (OSError, sqlite3.Error) as exc:
            self._fail(exc)
            return False
        if replayed:
            log.warning("held alarm writes committed", extra={"replayed": replayed})
        self._writable()  # also when nothing was held: the failure is over once the database answers
        self._holding = False
        return True

    def _open(self) -> None:
        if self._tx is None:
            assert self._opener is not None
            self._tx = Transactions(self._opener(), self._stats, on_commit=self._writable)
            self._writable()

    def _commit_held(self, units: deque[Unit]) -> None:
        self._transactions().commit_queue(units, durable=self._fsync)

    def _hold(self) -> None:
        """While the database fails: alarm writes to the journal in order, readings shed (counted), other
        writes kept up to the bound (the oldest go first)."""
        while self._priority:
            self._journal.hold(self._priority.popleft().writes)
        self._no_priority.set()
        stats = self._stats
        shed = len(self._readings)
        for _ in range(shed):
            self._readings.popleft()
        excess = max(len(self._writes) - self._max_queued, 0)
        for _ in range(excess):
            self._writes.popleft()
        stats.writer_shed += shed
        stats.dropped_on_error += shed + excess

    def _fail(self, exc: OSError | sqlite3.Error) -> None:
        """The database cannot take writes: hold until ``retry_interval_s`` from now."""
        if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
            self._make_room()
        self._holding = True
        self._retry_at = time.monotonic() + self._retry_s
        stats = self._stats
        if not stats.failure:
            log.error("storage failed: alarm writes are held (journal, spill file), readings shed, until it "
                      "takes writes again", extra={"error": str(exc), "retry_s": self._retry_s})
        stats.failure = str(exc) or type(exc).__name__

    def _writable(self) -> None:
        """Something was opened or committed: the failure, if any, is over."""
        if self._stats.failure:
            log.warning("storage writable again", extra={"was": self._stats.failure})
            self._stats.failure = ""

    # --- commits ---------------------------------------------------------------------

    def _write_readings(self, drain: bool) -> bool:
        """Commit what is queued if it is time (``drain``) or a full batch is waiting."""
        ok = True
        queued = len(self._readings)
        remaining = queued if drain or queued >= self._batch_size else 0
        while remaining > 0 and not self._holding:
            n = min(remaining, ROWS_PER_TRANSACTION)
            remaining -= n
            ok = self._commit_readings(n) and ok
            if self._priority:  # alarms never wait behind a reading backlog, nor behind eviction
                ok = self._commit_priority() and ok
            self._budget_step()  # eviction keeps pace with ingest, chunk for chunk
        return ok

    def _commit_readings(self, n: int) -> bool:
        popleft = self._readings.popleft
        rows = [popleft() for _ in range(n)]
        try:
            self._insert_readings(rows)
        except sqlite3.Error as exc:
            if is_disk_full(exc) and self._make_room():
                try:
                    self._insert_readings(rows)
                    return True
                except sqlite3.Error as retry_exc:
                    exc = retry_exc
            if is_transient(exc):
                self._fail(exc)
            return self._transactions().dropped(exc, len(rows))
        return True

    def _insert_readings(self, rows: list[Row]) -> None:
        cursor = self._transactions().run(lambda conn: conn.executemany(READING_SQL, rows), durable=False)
        self._stats.batches += 1
        self._stats.count_written("readings", cursor.rowcount)

    def _commit_priority(self) -> bool:
        """Commit the alarm writes; bulk work resumes after the attempt (a failed one holds them)."""
        if self._holding:
            return False
        try:
            committed, ok = self._transactions().commit_queue(self._priority, durable=self._fsync)
        except sqlite3.Error as exc:
            self._fail(exc)
            return False
        finally:
            if self._holding or not self._priority:
                self._no_priority.set()
        self._count_latency(committed)
        return ok

    def _commit_writes(self) -> bool:
        if self._holding:
            return False
        try:
            return self._transactions().commit_queue(self._writes, durable=False)[1]
        except sqlite3.Error as exc:
            self._fail(exc)
            return False

    def _count_latency(self, items: Sequence[_Item]) -> None:
        """Live alarm writes: from the producer's put to the commit."""
        stats = self._stats
        now = time.perf_counter()
        for item in items:
            latency_ms = (now - item.queued_at) * 1000
            stats.priority_latency_ms_total += latency_ms
            stats.priority_latency_ms_max = max(stats.priority_latency_ms_max, latency_ms)
        stats.priority_commits += len(items)

    def _transactions(self) -> Transactions:
        if self._tx is None:  # never opened: why is in stats.failure
            raise sqlite3.OperationalError("the database is not open")
        return self._tx

    def _budget_step(self) -> None:
        if self._budget is not None and self._tx is not None and not self._holding:
            self._budget.step(self._tx.conn)

    def _make_room(self) -> bool:
        return self._budget is not None and self._tx is not None and self._budget.make_room(self._tx.conn)

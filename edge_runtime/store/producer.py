"""A producer's end of the channel to the store process: never blocks its caller, bounded, counted.

Any process may hold one (the daemon's Store facade, the telemetry ingest
process): ``StoreProducer.connect(address, authkey)`` with what
``Store.producer_address`` hands out. Calls only append to in-memory lists
under a short lock; a sender thread pickles what is waiting into one
:class:`~.messages.Batch` and sends it every ``SEND_INTERVAL_S``, or at once
for alarm transitions, a full send batch or a flush.

Bounds: bulk items (readings rows, serial chunks, observations) wait up to
``capacity`` (``StorageSettings.max_queued_readings``); beyond it new ones are
dropped and counted as shed. Priority items (alarm transitions, verdicts)
and low-priority writes (exposure minutes, fusion state, outbox marks) are
never dropped: their queue has no cap, because they are few (one per alarm
change, one per worker-minute) and each one matters. If the store process is
gone they stay queued, and the facade reports them as pending.
"""
from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection
from typing import NamedTuple

from edge_runtime.logs import LogThrottle
from edge_runtime.queue_stats import QueueStats
from firmware_bridge.readings import Observation

from .messages import Batch, Chunk, FlushReply, FlushRequest, Goodbye, Priority, Telemetry, bulk_items, chunk_weight
from .statements import Row, Write
from .stats import StoreStats

log = logging.getLogger(__name__)

SEND_INTERVAL_S = 0.02  # bulk items wait at most this long before they are sent
SEND_BATCH = 1000  # bulk items waiting that wake the sender before its timer
POLL_S = 0.25  # how often the reply reader checks whether the producer is closing


class ProducerAddress(NamedTuple):
    """What another process needs to connect to the store process (picklable)."""

    address: str  # the Unix socket's path
    authkey: bytes
    capacity: int  # the bulk bound every producer of this store uses


@dataclass(slots=True)
class _Counters:
    enqueued: int = 0
    shed: int = 0
    high_water: int = 0


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class StoreProducer:
    """Queues work for the store process; every ``put*`` method is thread-safe and never blocks."""

    def __init__(self, capacity: int, *, name: str = "store") -> None:
        self._capacity = capacity
        self._name = name
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._rows: list[Row] = []
        self._chunks: list[Chunk] = []
        self._observations: list[Observation] = []
        self._telemetry: list[Telemetry] = []
        self._bulk = 0  # bulk items waiting (messages.bulk_items)
        self._priority: list[Priority] = []
        self._writes: list[Write] = []
        self._flushes: dict[int, _Flush] = {}
        self._unsent_flushes: list[tuple[int, float]] = []
        self._next_token = 0
        self._bulk_counters = _Counters()
        self._event_counters = _Counters()
        self._record_errors = 0
        self._remote: StoreStats | None = None
        self._conn: Connection | None = None
        self._connected = False
        self._broken = False  # the connection was lost (not closed): nothing queued will be committed
        self._closing = False
        self._sender: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._error_log = LogThrottle()

    @classmethod
    def connect(cls, address: str, authkey: bytes, capacity: int = 20_000, *, name: str = "store") -> StoreProducer:
        """Connect to a running store process; raises OSError or AuthenticationError if it cannot."""
        producer = cls(capacity, name=name)
        producer.attach(Client(address, family="AF_UNIX", authkey=authkey))
        return producer

    def attach(self, conn: Connection) -> None:
        """Start sending on ``conn`` (what was queued before is sent first)."""
        self._conn = conn
        self._connected = True
        self._sender = threading.Thread(target=self._send_loop, name=f"{self._name}-sender", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"{self._name}-replies", daemon=True)
        self._sender.start()
        self._reader.start()

    # --- producer API: any thread, never blocks ---------------------------------------------------

    def put_rows(self, rows: Sequence[Row]) -> None:
        """``readings`` rows built with ``rows.reading_row``."""
        with self._lock:
            take = self._admit(len(rows))
            self._rows.extend(rows if take == len(rows) else rows[:take])
        self._nudge()

    def put_chunk(self, source: str, ts: float, data: bytes) -> None:
        """Raw bytes read from serial port ``source``; ``ts`` is the time stamped on all their readings."""
        weight = chunk_weight(data)
        with self._lock:
            if self._admit(weight, whole=True):
                self._chunks.append((source, ts, data))
        self._nudge()

    def put_telemetry(self, wearable: str, ts: float, payload: bytes) -> None:
        """One wearable telemetry message as received at ``ts``; parsed and encoded in the store process."""
        with self._lock:
            if self._admit(1):
                self._telemetry.append((wearable, ts, payload))
        self._nudge()

    def put_observation(self, obs: Observation) -> None:
        """One observation of a low-rate source (pickling one costs ~10x building its row)."""
        with self._lock:
            if self._admit(1):
                self._observations.append(obs)
        self._nudge()

    def put_priority(self, writes: tuple[Write, ...]) -> None:
        """Writes committed together and at once (an alarm row, its transition, its verdict)."""
        with self._lock:
            self._priority.append((time.perf_counter(), writes))
            self._count_event()
        self._wake.set()

    def put(self, write: Write) -> None:
        """A low-priority write, committed with the store's next timed flush."""
        with self._lock:
            self._writes.append(write)
            self._count_event()

    def flush(self, timeout: float) -> bool:
        """Block until everything queued before the call is committed (False on timeout or a write error)."""
        if not self._connected:
            return self.depth == 0 and not self._broken
        waiter = _Flush()
        with self._lock:
            token = self._next_token = self._next_token + 1
            self._flushes[token] = waiter
            self._unsent_flushes.append((token, time.monotonic() + timeout))
        self._wake.set()
        ok = waiter.done.wait(timeout) and waiter.ok
        with self._lock:
            self._flushes.pop(token, None)
        return ok

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then close the connection (the store process keeps running)."""
        if self._sender is None or self._closing:
            return
        self._closing = True
        self._wake.set()
        self._sender.join(timeout)
        assert self._reader is not None and self._conn is not None
        if self._connected and not self._sender.is_alive():
            self._send(Goodbye())
        self._reader.join(POLL_S * 4)
        self._conn.close()
        self._connected = False

    # --- figures ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def depth(self) -> int:
        """Items waiting to be sent, all queues."""
        return self._bulk + len(self._priority) + len(self._writes)

    @property
    def priority_depth(self) -> int:
        return len(self._priority)

    @property
    def shed(self) -> int:
        return self._bulk_counters.shed

    @property
    def record_errors(self) -> int:
        """Items dropped because they could not be pickled."""
        return self._record_errors

    @property
    def remote_stats(self) -> StoreStats | None:
        """The store process's latest counters (sent every ~0.25 s and with each flush reply)."""
        return self._remote

    def queues(self) -> list[QueueStats]:
        bulk, events = self._bulk_counters, self._event_counters
        return [
            QueueStats(f"{self._name}.readings", self._bulk, self._capacity, bulk.high_water, bulk.enqueued,
                       bulk.shed, kind="bulk"),
            QueueStats(f"{self._name}.priority", len(self._priority) + len(self._writes), 0, events.high_water,
                       events.enqueued, 0, kind="events"),
        ]

    # --- under the lock -------------------------------------------------------------------------

    def _admit(self, n: int, *, whole: bool = False) -> int:
        """How many of ``n`` new bulk items fit (``whole``: all or none); the rest are counted as shed."""
        counters = self._bulk_counters
        take = min(n, self._capacity - self._bulk)
        if take < n:
            take = 0 if whole else max(take, 0)
            counters.shed += n - take
        self._bulk += take
        counters.enqueued += take
        if self._bulk > counters.high_water:
            counters.high_water = self._bulk
        return take

    def _count_event(self) -> None:
        counters = self._event_counters
        counters.enqueued += 1
        depth = len(self._priority) + len(self._writes)
        if depth > counters.high_water:
            counters.high_water = depth

    def _nudge(self) -> None:
        if self._bulk >= SEND_BATCH and not self._wake.is_set():
            self._wake.set()

    def _take(self) -> tuple[Batch | None, list[tuple[int, float]]]:
        with self._lock:
            flushes, self._unsent_flushes = self._unsent_flushes, []
            if not (self._bulk or self._priority or self._writes):
                return None, flushes
            batch = Batch(self._rows, self._chunks, self._observations, self._priority, self._writes, self._telemetry)
            self._rows, self._chunks, self._observations, self._priority, self._writes = [], [], [], [], []
            self._telemetry = []
            self._bulk = 0
        return batch, flushes

    # --- the sender thread ----------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            self._wake.wait(SEND_INTERVAL_S)
            self._wake.clear()
            closing = self._closing
            if self._connected:
                batch, flushes = self._take()
                if batch is not None:
                    self._send_batch(batch)
                for token, deadline in flushes:
                    self._send(FlushRequest(token, max(deadline - time.monotonic(), 0.0)))
            if closing:
                return

    def _send_batch(self, batch: Batch) -> None:
        try:
            data = pickle.dumps(batch, 5)
        except Exception:  # something in it cannot be pickled: send everything else
            batch = Batch(*(self._picklable(items) for items in batch))
            data = pickle.dumps(batch, 5)
        if not self._send_bytes(data):
            self._requeue(batch)

    def _picklable(self, items: list[object]) -> list[object]:
        kept = []
        for item in items:
            try:
                pickle.dumps(item, 5)
            except Exception:
                self._record_errors += 1
                if self._error_log.ready():
                    log.exception("store producer dropped an item it cannot pickle", extra={"item": repr(item)[:200]})
            else:
                kept.append(item)
        return kept

    def _send(self, message: FlushRequest | Goodbye) -> None:
        self._send_bytes(pickle.dumps(message, 5))

    def _send_bytes(self, data: bytes) -> bool:
        assert self._conn is not None
        try:
            self._conn.send_bytes(data)
        except (OSError, ValueError) as exc:
            self._lost(exc)
            return False
        return True

    def _requeue(self, batch: Batch) -> None:
        """The store process is gone: alarms and writes wait in memory, bulk items are shed."""
        with self._lock:
            self._priority[:0] = batch.priority
            self._writes[:0] = batch.writes
            self._bulk_counters.shed += bulk_items(batch)

    # --- the reply reader thread ----------------------------------------------------------------

    def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        while not self._closing:
            try:
                if not conn.poll(POLL_S):
                    continue
                message = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError) as exc:
                self._lost(exc)
                return
            self._remote = message.stats
            if isinstance(message, FlushReply):
                with self._lock:
                    waiter = self._flushes.get(message.token)
                if waiter is not None:
                    waiter.ok = message.ok
                    waiter.done.set()

    def _lost(self, exc: BaseException) -> None:
        if self._closing or not self._connected:
            return
        self._connected = False
        self._broken = True
        log.error("store process connection lost; alarm writes are held in memory",
                  extra={"producer": self._name, "error": repr(exc)})
        with self._lock:
            waiters = list(self._flushes.values())
        for waiter in waiters:
            waiter.done.set()

"""The store process: owns the only write connection and serves producers on a Unix socket.

Spawned by :class:`~.process.StoreProcess`. It serves whether or not the
database can be opened: the writer opens it (and migrates it) itself, and
while it cannot, alarm writes are held in the journal (``journal.py``) and
the counters say why. Each producer connection gets a
receiver thread that unpickles batches and hands them to the intake: alarm
writes go straight to the writer thread (``writer.py``: batching, priority
commits, the disk budget), bulk work to the intake thread, which queues the
rows it builds for the writer. Flush requests are answered from a thread of their own, so
a flush never holds up the batches (and alarms) behind it. Every connection
also gets the store's counters every ``STATS_EVERY_S``.

It stops when the owner says so, when the owner's control pipe closes (the
daemon died, even by SIGKILL) or on SIGTERM (``PR_SET_PDEATHSIG`` sends one
when the owner dies; note that Linux sends it when the *thread* that started
the process ends, so open the Store from a long-lived thread). Stopping
first reads what producers had already sent, then commits it all. Ctrl-C is
ignored: the daemon flushes the store before it stops it.
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener
from pathlib import Path

from edge_runtime.child_process import die_with_parent, lower_priority, name_process
from edge_runtime.config.devices import SerialPort, StorageSettings
from edge_runtime.logs import LogThrottle, setup_logging, verbosity_of

from .budget import DiskBudget
from .intake import Intake
from .journal import Journal
from .messages import Batch, FlushReply, FlushRequest, Goodbye, StatsReport
from .migrations import open_migrated
from .spill import SpillFile
from .stats import StoreStats
from .writer import ROWS_PER_TRANSACTION, Writer

log = logging.getLogger(__name__)

# Rows the disk budget deletes per step; a step follows every reading transaction,
# so eviction outpaces ingest 4:1 while keeping each delete short.
EVICT_PER_STEP = 4 * ROWS_PER_TRANSACTION
STATS_EVERY_S = 0.25
POLL_S = 0.25  # receivers and the control loop look at the stop flag this often
QUIET_S = 0.1  # when stopping, a connection with nothing to read for this long is done


@dataclass(frozen=True)
class ProcessSpec:
    """Everything the store process needs, picklable (it is spawned, not forked)."""

    settings: StorageSettings
    serial: tuple[SerialPort, ...]
    address: str  # Unix socket path, in a private directory the process removes when it ends
    authkey: bytes
    log_level: int


def run(spec: ProcessSpec, control: Connection) -> None:
    """The process's main: sends ``("ready", (pid, failure))`` (failure: why the database cannot be written
    now, "" if it can) or ``("failed", why)`` on ``control``, then serves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(0.001)  # as in the daemon: the writer takes the GIL from the intake soon for an alarm
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    die_with_parent()
    name_process("sg-store")
    lower_priority(spec.settings.process_nice)
    setup_logging(verbosity_of(spec.log_level))
    try:
        server = StoreServer(spec)
    except Exception as exc:  # noqa: BLE001 - the owner raises it as StoreError
        control.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    control.send(("ready", (os.getpid(), server.failure)))
    timeout = server.serve(control, stop)
    server.close(timeout)


class StoreServer:
    def __init__(self, spec: ProcessSpec) -> None:
        settings = spec.settings
        self._stats = StoreStats()
        spill = SpillFile(settings.spill_path or settings.path.parent, settings.path, settings.spill_max_bytes,
                          self._stats)
        self._writer = Writer(
            self._stats,
            Journal(self._stats, max_items=settings.journal_max_items, spill=spill),
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            max_queued_readings=settings.max_queued_readings,
            fsync=settings.fsync_alarms,
            retry_interval_s=settings.retry_interval_s,
        )
        self._intake = Intake(self._writer, self._stats, spec.serial, sample_s=settings.readings_sample_s,
                              max_queued=settings.max_queued_readings)
        self._address = spec.address
        self._listener = Listener(spec.address, family="AF_UNIX", authkey=spec.authkey)
        budget = DiskBudget(
            settings.path,
            settings.max_bytes,
            self._stats,
            min_free_bytes=settings.min_free_bytes,
            chunk_rows=EVICT_PER_STEP,
            alarm_context_s=settings.alarm_context_s,
        )
        self._writer.start(partial(open_migrated, settings.path), budget)
        self._intake.start()
        self._stopping = threading.Event()
        self._receivers: list[threading.Thread] = []
        self._error_log = LogThrottle()

    @property
    def failure(self) -> str:
        """Why the database cannot be written now ("" while it can)."""
        return self._stats.failure

    def serve(self, control: Connection, stop: threading.Event) -> float:
        """Accept producers until told to stop; returns the seconds the owner allows for stopping."""
        threading.Thread(target=self._accept, name="store-accept", daemon=True).start()
        timeout = 5.0
        while not stop.is_set():
            try:
                if not control.poll(POLL_S):
                    continue
                message = control.recv()
            except (EOFError, OSError):
                log.warning("store owner gone: committing what it sent, then stopping")
                break
            if message[0] == "stop":
                timeout = message[1]
                break
        return timeout

    def close(self, timeout: float) -> None:
        """Read what producers had sent, commit everything, remove the socket."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        for receiver in list(self._receivers):
            receiver.join(max(deadline - time.monotonic(), 0.0))
        self._intake.stop(max(deadline - time.monotonic(), 0.5))
        self._writer.stop(max(deadline - time.monotonic(), 0.5))
        self._listener.close()  # unlinks the socket
        with suppress(OSError):
            os.rmdir(Path(self._address).parent)

    # --- producers -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, AuthenticationError) as exc:
                if self._stopping.is_set():
                    return
                if self._error_log.ready():
                    log.warning("store process refused a producer: %s", exc)
                continue
            receiver = threading.Thread(target=self._receive, args=(conn,), name="store-receiver", daemon=True)
            self._receivers.append(receiver)
            receiver.start()

    def _receive(self, conn: Connection) -> None:
        """One producer: batches in, flush replies and counters out, until EOF (or quiet, when stopping)."""
        send_lock = threading.Lock()
        next_stats = 0.0
        with conn:
            while True:
                stopping = self._stopping.is_set()
                try:
                    if conn.poll(QUIET_S if stopping else POLL_S):
                        if not self._handle(conn, send_lock, conn.recv_bytes()):
                            return
                    elif stopping:
                        return
                except (EOFError, OSError):
                    return
                now = time.monotonic()
                if now >= next_stats:
                    next_stats = now + STATS_EVERY_S
                    self._send(conn, send_lock, lambda: StatsReport(self._snapshot()))

    def _handle(self, conn: Connection, send_lock: threading.Lock, data: bytes) -> bool:
        """Act on one message; False when the producer said goodbye."""
        try:
            message = pickle.loads(data)  # only processes given the authkey can connect
        except Exception:  # noqa: BLE001
            self._stats.record_errors += 1
            log.exception("store process could not read a message")
            return True
        if isinstance(message, Batch):
            self._intake.accept(message)
        elif isinstance(message, FlushRequest):
            threading.Thread(target=self._flush, args=(conn, send_lock, message), daemon=True).start()
        return not isinstance(message, Goodbye)

    def _flush(self, conn: Connection, send_lock: threading.Lock, request: FlushRequest) -> None:
        deadline = time.monotonic() + request.timeout_s
        ok = self._intake.wait_idle(request.timeout_s) and self._writer.flush(max(deadline - time.monotonic(), 0.0))
        self._send(conn, send_lock, lambda: FlushReply(request.token, ok, self._snapshot()))

    def _send(self, conn: Connection, send_lock: threading.Lock, message: Callable[[], object]) -> None:
        # Built under the lock, so counters reach the producer in the order they were read.
        with send_lock, suppress(OSError, ValueError):  # a producer that went away reads nothing more
            conn.send_bytes(pickle.dumps(message(), 5))

    def _snapshot(self) -> StoreStats:
        return self._stats.snapshot(self._writer.queue_depth, self._intake.depth)




"""The store facade: what the daemon, the dashboard and the sync agent call.

Writes go to the store process (``server.py``), which owns the only write
connection, through a :class:`~.producer.StoreProducer`: ``record_*`` and
``save_fusion_state`` run on the asyncio loop, only append to bounded
in-memory queues and never raise (a full or read-only disk, a closed store or
a dead store process is counted in :attr:`Store.stats` and logged). Alarm
transitions are priority items, committed within milliseconds; everything
else is batched. Reads run synchronously in the caller on their own
query-only connection and see what the store process has committed.

Storage never takes the alarm path down: :meth:`Store.open` succeeds even
when the database cannot be opened (the store process holds alarm writes and
retries), reads raise :class:`StoreError` until it can be read, and
:meth:`Store.health` says whether it takes writes (``/readyz``, the
dashboard, the STORAGE_FAILED alarm of ``health.py``).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge_runtime.logs import LogThrottle
from edge_runtime.alarms.model import Alarm, AlarmTransition
from edge_runtime.config.devices import SerialPort, StorageSettings
from edge_runtime.queue_stats import QueueStats
from firmware_bridge.readings import Observation

from .connection import ReadConnection
from .errors import StoreError
from .health import StorageHealth
from .outbox import Outbox
from .process import StoreProcess
from .producer import ProducerAddress, StoreProducer
from .rows import (
    ALARM_SQL,
    EXPOSURE_SQL,
    FUSION_STATE_SQL,
    SNAPSHOT_SQL,
    TRANSITION_SQL,
    VERDICT_SQL,
    alarm_from_row,
    alarm_record,
    alarm_row,
    snapshot_row,
    to_json,
    transition_row,
    verdict_row,
)
from .statements import Write
from .stats import StoreStats

log = logging.getLogger(__name__)


class Store:
    """SQLite persistence for one edge node; see the package docstring for the schema.

    ``serial`` are the site's serial ports: :meth:`record_chunk` needs them to
    decode a port's bytes in the store process.
    """

    def __init__(
        self,
        settings: StorageSettings,
        *,
        serial: Iterable[SerialPort] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._serial = tuple(serial)
        self._clock = clock
        # Created now so what is recorded before open() is queued, not lost.
        self._producer = StoreProducer(settings.max_queued_readings, name="store")
        self.outbox = Outbox(self._producer.put, clock)
        self._process: StoreProcess | None = None
        self._reader: ReadConnection | None = None
        self._accepting = True
        self._opened = False
        self._refused_count = 0
        self._error_log = LogThrottle()

    # --- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        """Start the store process, which creates or migrates the database. A database that cannot be opened
        now is no error (alarm writes are held, ``health`` says why); raises StoreError only if the store
        process cannot start."""
        if self._opened:
            raise StoreError("a Store is opened once; make a new one to reopen the file")
        self._opened = True
        try:
            self._process = StoreProcess.start(self._settings, self._serial)
            self._producer.attach(self._process.connect())
        except StoreError:
            self.close()
            raise
        failure = self._process.failure_at_start
        if not failure:
            try:
                self._read_connection()
            except sqlite3.Error as exc:  # opened again on the next read
                failure = f"not readable: {exc}"
        if failure:
            log.error("storage failed at start: alarms are raised and sent, their writes held until it recovers",
                      extra={"db": str(self._settings.path), "error": failure})

    def close(self, timeout: float = 5.0) -> None:
        """Commit everything queued, stop the store process, close the read connection."""
        self._accepting = False
        if self._process is not None:
            self._producer.flush(timeout)
            self._producer.close(timeout)
            self._process.stop(timeout)
            self._process = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is committed; False on timeout or a write error."""
        return self._producer.flush(timeout)

    # --- writes: on the asyncio loop, never block, never raise -------------------------

    def record_observation(self, obs: Observation) -> None:
        """One reading of a low-rate source; its row is built in the store process."""
        try:
            if self._accepting:
                self._producer.put_observation(obs)
            else:
                self._refused("observation")
        except Exception as exc:
            self._refused("observation", exc)

    def record_chunk(self, source: str, ts: float, data: bytes) -> None:
        """The bytes just read from serial port ``source``; ``ts`` is the time stamped on all their readings.

        The store process decodes them again, maps them to devices like the
        daemon does and stores them as :meth:`record_observation` would.
        """
        try:
            if self._accepting:
                self._producer.put_chunk(source, ts, data)
            else:
                self._refused("serial chunk")
        except Exception as exc:
            self._refused("serial chunk", exc)

    def record_transition(self, t: AlarmTransition) -> None:
        """Upsert the alarm row and append the transition (and verdict): committed at once."""
        try:
            if not self._accepting:
                self._refused("alarm transition")
                return
            # Rows are built here: the engine keeps mutating the Alarm after this call.
            writes = [
                Write("alarms", ALARM_SQL, alarm_row(t.alarm)),
                Write("transitions", TRANSITION_SQL, transition_row(t)),
            ]
            verdict = verdict_row(t)
            if verdict is not None:
                writes.append(Write("verdicts", VERDICT_SQL, verdict))
            self._producer.put_priority(tuple(writes))
        except Exception as exc:
            self._refused("alarm transition", exc)

    def record_exposure_minute(self, worker: str, gas: str, minute_ts: float, value: float) -> None:
        """One averaged minute of a worker's exposure (replaces a minute recorded before)."""
        self._put(Write("exposure_minutes", EXPOSURE_SQL, (worker, gas, minute_ts, value)), "exposure minute")

    def record_snapshot(self, *, stem: str, camera: str, ts: float, reason: str, path: Path, size: int,
                        detections: list[dict[str, Any]], model: dict[str, Any] | None) -> None:
        """A camera snapshot just saved (``size`` bytes of JPEG at ``path``): queued for the snapshots lane."""
        try:
            row = snapshot_row(stem, camera, ts, reason, str(path), size, detections, model)
        except Exception as exc:
            self._refused("snapshot", exc)
            return
        self._put(Write("snapshots", SNAPSHOT_SQL, row), "snapshot")

    def save_fusion_state(self, state: dict[str, Any]) -> None:
        """Replace the saved fusion state; encoded now, so the caller may keep mutating ``state``."""
        try:
            blob = to_json(state)
        except Exception as exc:
            self._refused("fusion state", exc)
            return
        self._put(Write("fusion_state", FUSION_STATE_SQL, (self._clock(), blob)), "fusion state")

    def _put(self, write: Write, what: str) -> None:
        if self._accepting:
            self._producer.put(write)
        else:
            self._refused(what)

    def _refused(self, what: str, exc: Exception | None = None) -> None:
        self._refused_count += 1
        if self._error_log.ready():
            reason = "the store is closed" if exc is None else "it could not be encoded"
            log.error("store refused a %s: %s", what, reason,
                      extra={"refused": self._refused_count}, exc_info=exc)

    # --- reads: synchronous, own connection --------------------------------------

    def load_open_alarms(self) -> list[Alarm]:
        """Every alarm not back to normal, as the engine had it: for restore after a restart."""
        rows = self._read("SELECT * FROM alarms WHERE state <> 'normal' ORDER BY raised_ts, id")
        return [alarm_from_row(row) for row in rows]

    def load_fusion_state(self) -> dict[str, Any] | None:
        rows = self._read("SELECT state FROM fusion_state WHERE id = 1")
        return json.loads(rows[0]["state"]) if rows else None

    def alarms(self, *, since: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Most recently updated first, shaped like ``AlarmRecord``."""
        rows = self._read(
            "SELECT * FROM alarms WHERE updated_ts >= ? ORDER BY updated_ts DESC LIMIT ?",
            (since if since is not None else float("-inf"), limit),
        )
        return [alarm_record(row) for row in rows]

    def transitions(self, alarm_id: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM transitions WHERE alarm_id = ? ORDER BY id", (alarm_id,))
        for row in rows:
            row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        return rows

    def verdicts(self, alarm_id: str | None = None) -> list[dict[str, Any]]:
        if alarm_id is None:
            return self._read("SELECT * FROM verdicts ORDER BY id")
        return self._read("SELECT * FROM verdicts WHERE alarm_id = ? ORDER BY id", (alarm_id,))

    def readings_count(self) -> int:
        return int(self._read("SELECT count(*) AS n FROM readings")[0]["n"])

    # --- figures and the channel -----------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Items not committed yet: waiting here, plus waiting in the store process when it last said."""
        remote = self._producer.remote_stats
        return self._producer.depth + (remote.queue_depth if remote is not None else 0)

    @property
    def stats(self) -> StoreStats:
        """The store process's latest counters merged with this side's (refused, shed, still queued here)."""
        producer = self._producer
        stats = (producer.remote_stats or StoreStats()).snapshot(self.queue_depth)
        stats.record_errors += self._refused_count + producer.record_errors
        stats.dropped_overflow += producer.shed
        if not producer.connected:  # nothing reaches the disk: alarms wait in memory here
            stats.priority_pending_retry += producer.priority_depth
        return stats

    def health(self) -> StorageHealth:
        """Whether the database takes writes now, and what is held until it does (read a few times a second
        on the daemon's loop: the store process's last report as it is, no snapshot of every counter)."""
        producer = self._producer
        remote = producer.remote_stats or StoreStats()
        held = remote.priority_pending_retry + (0 if producer.connected else producer.priority_depth)
        if not self.connected or self._process is None:
            reason = "the store process is not running"
        elif producer.remote_stats is None:  # not reported yet: as it was at start
            reason = self._process.failure_at_start
        else:
            reason = remote.failure
        return StorageHealth(not reason, reason, held, remote.spilled, remote.journal_lost)

    @property
    def connected(self) -> bool:
        """True while the store process is open and reachable (False before open, after close, if it died)."""
        return self._producer.connected

    def queues(self) -> list[QueueStats]:
        """This process's channel to the store (``store.readings``: bulk, ``store.priority``: events), and the
        store process's own bounded queues as it last reported them (``store.intake``, ``store.writer``, and
        ``store.journal``: alarm writes held in memory while the database fails, lost when it is full and the
        spill file cannot take them either)."""
        remote = self._producer.remote_stats or StoreStats()
        cap = self._settings.max_queued_readings
        return [
            *self._producer.queues(),
            QueueStats("store.intake", remote.intake_depth, cap, remote.intake_high_water, remote.intake_enqueued,
                       remote.intake_shed, kind="bulk"),
            QueueStats("store.writer", remote.queue_depth, cap, remote.writer_high_water, remote.writer_enqueued,
                       remote.writer_shed, kind="bulk"),
            QueueStats("store.journal", remote.journal_depth, self._settings.journal_max_items,
                       remote.journal_high_water, remote.journal_held, remote.journal_lost, kind="events"),
        ]

    @property
    def producer_address(self) -> ProducerAddress:
        """What another process passes to ``StoreProducer.connect`` to write through this store."""
        if self._process is None:
            raise StoreError("the store is not open")
        return self._process.address

    @property
    def process_pid(self) -> int | None:
        """The store process's pid while it runs (for supervision and tests)."""
        return self._process.pid if self._process is not None else None

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        try:
            return self._read_connection().query(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def _read_connection(self) -> ReadConnection:
        """Opened on first use, so a database that could not be read at start is read once it can be."""
        if self._reader is None:
            if self._process is None:
                raise StoreError("the store is not open")
            reader = ReadConnection(self._settings.path)
            try:
                self.outbox.attach(reader)
            except BaseException:
                reader.close()
                raise
            self._reader = reader
        return self._reader

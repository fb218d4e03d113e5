"""The store facade: what the daemon, the dashboard and the sync agent call.

``record_*`` and ``save_fusion_state`` run on the asyncio loop: they only
queue work for the writer thread and never raise (a full or read-only disk is
counted in :attr:`Store.stats` and logged). Alarm transitions are priority
items, committed within milliseconds; everything else is batched.
Reads run synchronously on their own query-only connection and see what the
writer has committed.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from edge_runtime.alarms.model import Alarm, AlarmTransition
from edge_runtime.config.devices import StorageSettings
from firmware_bridge.readings import Observation

from .budget import DiskBudget
from .connection import ReadConnection, connect
from .errors import StoreError
from .migrations import migrate
from .outbox import Outbox
from .rows import (
    ALARM_SQL,
    EXPOSURE_SQL,
    FUSION_STATE_SQL,
    TRANSITION_SQL,
    VERDICT_SQL,
    alarm_from_row,
    alarm_record,
    alarm_row,
    reading_row,
    to_json,
    transition_row,
    verdict_row,
)
from .sampling import Sampler
from .stats import LogThrottle, StoreStats
from .writer import ROWS_PER_TRANSACTION, Write, Writer

log = logging.getLogger(__name__)

# Rows the disk budget deletes per step; a step follows every reading transaction,
# so eviction outpaces ingest 4:1 while keeping each delete short.
EVICT_PER_STEP = 4 * ROWS_PER_TRANSACTION


class Store:
    """SQLite persistence for one edge node; see the package docstring for the schema."""

    def __init__(self, settings: StorageSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._stats = StoreStats()
        self._sampler = Sampler(settings.readings_sample_s) if settings.readings_sample_s > 0 else None
        # Created now so observations recorded before open() are queued, not lost.
        self._writer = Writer(
            self._stats,
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            max_queued_readings=settings.max_queued_readings,
            fsync=settings.fsync_alarms,
            encode=reading_row,
        )
        self.outbox = Outbox(self._writer, clock)
        self._reader: ReadConnection | None = None
        self._accepting = True
        self._opened = False
        self._error_log = LogThrottle()

    # --- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        """Create or migrate the database and start the writer; raises StoreError if it cannot."""
        if self._opened:
            raise StoreError("a Store is opened once; make a new one to reopen the file")
        self._opened = True
        path = self._settings.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(path)
            try:
                migrate(Database(conn, execute_plugins=False))
            except BaseException:
                conn.close()
                raise
            self._reader = ReadConnection(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        self.outbox.attach(self._reader)
        budget = DiskBudget(
            path,
            self._settings.max_bytes,
            self._stats,
            min_free_bytes=self._settings.min_free_bytes,
            chunk_rows=EVICT_PER_STEP,
        )
        self._writer.start(conn, budget)

    def close(self, timeout: float = 5.0) -> None:
        """Commit everything queued, stop the writer, close both connections."""
        self._accepting = False
        self._writer.stop(timeout)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is committed; False on timeout or a write error."""
        return self._writer.flush(timeout)

    # --- writes: on the asyncio loop, never block, never raise -------------------------

    def record_observation(self, obs: Observation) -> None:
        try:
            if not self._accepting:
                self._refused("observation")
            elif self._sampler is not None and not self._sampler.keep(obs):
                self._stats.sampled_out += 1
            else:
                self._writer.put_reading(obs)
        except Exception as exc:
            self._refused("observation", exc)

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
            self._writer.put_priority(tuple(writes))
        except Exception as exc:
            self._refused("alarm transition", exc)

    def record_exposure_minute(self, worker: str, gas: str, minute_ts: float, value: float) -> None:
        """One averaged minute of a worker's exposure (replaces a minute recorded before)."""
        self._put(Write("exposure_minutes", EXPOSURE_SQL, (worker, gas, minute_ts, value)), "exposure minute")

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
            self._writer.put(write)
        else:
            self._refused(what)

    def _refused(self, what: str, exc: Exception | None = None) -> None:
        self._stats.record_errors += 1
        if self._error_log.ready():
            reason = "the store is closed" if exc is None else "it could not be encoded"
            count = self._stats.record_errors
            log.error("store refused a %s: %s (%d refused so far)", what, reason, count, exc_info=exc)

    # --- reads: synchronous, own connection --------------------------------------

    def load_open_alarms(self) -> list[Alarm]:
        """Every alarm not back to normal, as the engine had it: for restore after a restart."""
        rows = self._read("SELECT * FROM alarms WHERE state <> 'normal' ORDER BY raised_ts, id")
        return [alarm_from_row(row) for row in rows]

    def load_fusion_state(self) -> dict[str, Any] | None:
        rows = self._read("SELECT state FROM fusion_state WHERE id = 1")
        return json.loads(rows[0]["state"]) if rows else None

    def alarms(self, *, since: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Most recently updated first, shaped like ``Alarm.to_record()``."""
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

    @property
    def queue_depth(self) -> int:
        """Items waiting for the writer (cheap: for backpressure and /metrics)."""
        return self._writer.queue_depth

    @property
    def stats(self) -> StoreStats:
        """A snapshot of the counters, with the current queue depth."""
        return self._stats.snapshot(self._writer.queue_depth)

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        if self._reader is None:
            raise StoreError("the store is not open")
        try:
            return self._reader.query(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

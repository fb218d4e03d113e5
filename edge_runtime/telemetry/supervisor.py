"""The alarm process's side of telemetry ingest: start the child, take what it sends.

Events (panic, cancel, check-in) are read as soon as their pipe is readable
and go to fusion in that loop iteration. A routine batch is handed to fusion
in slices of ``SLICE`` wearables, one slice per loop iteration, with the
events pipe drained before each slice, so a serial gas frame or a panic
press waits for at most one slice. Only when the whole batch is done does
the child get its credit for the next one: the alarm process is never
behind, and the child coalesces whatever arrives meanwhile.

The child is restarted (with the shared backoff) if it dies; until then the
daemon's readiness says telemetry is down.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from edge_runtime.queue_stats import QueueStats
from edge_runtime.store.producer import ProducerAddress
from firmware_bridge.backoff import Backoff
from firmware_bridge.readings import Battery, CheckIn, Observation, PanicButton, Reading

from . import ingest_process, wire

log = logging.getLogger(__name__)

SLICE = 32  # wearables handed to fusion per loop iteration
_EVENT_READINGS: dict[str, Reading] = {
    wire.PANIC: PanicButton(pressed=True),
    wire.CANCEL: PanicButton(pressed=False),
    wire.CHECK_IN: CheckIn(),
}


class TelemetryIngestSupervisor:
    """Owns the ingest child process and its two pipes; everything here runs on the loop."""

    def __init__(
        self,
        settings: ingest_process.IngestSettings,
        deliver: Callable[[Observation], None],
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._wearables = len(settings.wearables)
        self._clock = clock
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self._ctx = mp.get_context("spawn")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: BaseProcess | None = None
        self._events: Connection | None = None
        self._routine: Connection | None = None
        self._batch: list[wire.RoutineRecord] = []
        self._batch_at = 0
        self._stopping = False
        self._restart: asyncio.TimerHandle | None = None
        self.stats: dict[str, int] = {}
        self.restarts = 0
        self.events_delivered = 0
        self.routine_delivered = 0

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, store_address: ProducerAddress | None = None) -> None:
        """Start the child; with ``store_address`` it stores every telemetry reading too."""
        self._loop = asyncio.get_running_loop()
        if store_address is not None:
            self._settings = dataclasses.replace(self._settings, store_address=store_address)
        self._spawn()

    async def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        proc = self._proc
        self._close_pipes()
        if proc is None:
            return
        proc.terminate()
        await asyncio.to_thread(proc.join, timeout)
        if proc.is_alive():
            proc.kill()
            await asyncio.to_thread(proc.join, timeout)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def _spawn(self) -> None:
        assert self._loop is not None
        events_r, events_w = self._ctx.Pipe(duplex=False)
        routine, routine_child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=ingest_process.run, args=(self._settings, events_w, routine_child),
                                 name="siteguard-telemetry-ingest", daemon=True)
        proc.start()
        events_w.close()
        routine_child.close()
        self._proc, self._events, self._routine = proc, events_r, routine
        self._batch, self._batch_at = [], 0
        self._loop.add_reader(events_r.fileno(), self._on_events)
        self._loop.add_reader(routine.fileno(), self._on_routine)
        self._loop.add_reader(proc.sentinel, self._on_exit)

    def _close_pipes(self) -> None:
        loop = self._loop
        for conn in (self._events, self._routine):
            if conn is not None and not conn.closed:
                if loop is not None:
                    loop.remove_reader(conn.fileno())
                conn.close()
        if loop is not None and self._proc is not None:
            loop.remove_reader(self._proc.sentinel)
        self._events = self._routine = None

    def _on_exit(self) -> None:
        """The child died (its sentinel became readable): restart it after a backoff."""
        self._close_pipes()
        if self._stopping:
            return
        code = self._proc.exitcode if self._proc is not None else None
        delay = self._backoff.next_delay()
        log.error("telemetry ingest process exited (code %s); restarting in %.1fs", code, delay)
        self.restarts += 1
        assert self._loop is not None
        self._restart = self._loop.call_later(delay, self._respawn)

    def _respawn(self) -> None:
        self._restart = None
        if not self._stopping:
            self._spawn()

    # --- input --------------------------------------------------------------------------

    def _offset(self) -> float:
        """The child stamps wall-clock time; fusion runs on this daemon's clock."""
        return self._clock() - time.time()

    def _on_events(self) -> None:
        conn = self._events
        try:
            while conn is not None and conn.poll(0):
                frame: list[wire.EventRecord] = wire.decode(conn.recv_bytes())
                offset = self._offset()
                for wearable, event, ts in frame:
                    self._deliver(Observation(wearable, _EVENT_READINGS[event], ts + offset))
                self.events_delivered += len(frame)
        except (EOFError, OSError):
            self._close_pipes()

    def _on_routine(self) -> None:
        conn = self._routine
        if conn is None or self._batch:
            return
        try:
            records, self.stats = wire.decode(conn.recv_bytes())
        except (EOFError, OSError):
            self._close_pipes()
            return
        self._batch, self._batch_at = records, 0
        self._backoff.reset()  # the child is up and talking
        self._next_slice()

    def _next_slice(self) -> None:
        if self._events is not None:
            self._on_events()  # events first, always
        batch, start = self._batch, self._batch_at
        end = min(len(batch), start + SLICE)
        offset = self._offset()
        deliver = self._deliver
        for wearable, hr, hr_ts, battery, battery_ts, motion in batch[start:end]:
            for sample in motion:
                deliver(Observation(wearable, wire.motion(sample), sample[3] + offset))
            if hr is not None:
                deliver(Observation(wearable, wire.heart_rate(hr), hr_ts + offset))
            if battery is not None:
                deliver(Observation(wearable, Battery(battery), battery_ts + offset))
        self.routine_delivered += end - start
        if end < len(batch):
            self._batch_at = end
            assert self._loop is not None
            self._loop.call_soon(self._next_slice)
            return
        self._batch, self._batch_at = [], 0
        if self._routine is not None:
            try:
                self._routine.send_bytes(wire.CREDIT)
            except OSError:
                self._close_pipes()

    # --- reporting -------------------------------------------------------------------------

    def queues(self) -> list[QueueStats]:
        s = self.stats
        waiting = len(self._batch) - self._batch_at
        return [
            QueueStats("telemetry.routine", depth=s.get("pending", 0) + waiting, capacity=self._wearables,
                       high_water=s.get("max_slots", 0), enqueued=s.get("messages", 0),
                       shed=s.get("hr_shed", 0) + s.get("battery_shed", 0), kind="bulk"),
            QueueStats("telemetry.events", depth=0, capacity=0, enqueued=s.get("events", 0), kind="events"),
            QueueStats("store.telemetry", depth=s.get("store_depth", 0), capacity=s.get("store_capacity", 0),
                       high_water=s.get("store_high_water", 0), enqueued=s.get("store_enqueued", 0),
                       shed=s.get("store_shed", 0), kind="bulk"),
        ]

    def health(self) -> dict[str, object]:
        s = self.stats
        return {"alive": self.alive, "restarts": self.restarts, "messages": s.get("messages", 0),
                "rejected": s.get("rejected", 0), "unknown_wearable": s.get("unknown", 0),
                "oversized": s.get("oversized", 0), "motion_in": s.get("motion_in", 0),
                "motion_out": s.get("motion_out", 0), "broker_connects": s.get("connects", 0)}

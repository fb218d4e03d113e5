"""What the device tells the cloud every report interval: each slot's state and performance, and its events.

An event leaves SQLite only after the cloud answered 200 to a report that
carried it, so an outage or a restart loses none (a report the cloud stored
but whose answer was lost sends them again; the cloud keys them by content).
A new event (a rollback above all: it halts the rollout fleet-wide) wakes the
reporter at once instead of waiting for the interval.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping

from cloud_sync.contract.rollout import DeviceReport, ModelRef, SlotReport
from edge_runtime.logs import LogThrottle

from .client import RolloutClient, RolloutError
from .slot_updater import SlotUpdater
from .state import UpdateState
from .threads import Worker

log = logging.getLogger(__name__)

MAX_EVENTS = 1000  # DeviceReport.events' bound; more wait for the next report


class Reporter:
    def __init__(self, client: RolloutClient, state: UpdateState, db: Worker, updaters: Mapping[str, SlotUpdater],
                 interval_s: float, clock: Callable[[], float], on_halted: Callable[[list[str]], None]) -> None:
        self._client = client
        self._state = state
        self._db = db
        self._updaters = updaters
        self.interval_s = interval_s  # the desired state's report_interval_s once known
        self._clock = clock
        self._on_halted = on_halted
        self.wake = asyncio.Event()
        self.pending = 0  # events not yet acknowledged (as of the last report, plus those since)
        self.sent = 0
        self.failures = 0
        self.last_ok_ts: float | None = None
        self.last_error: str | None = None
        self._error_log = LogThrottle(60.0)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()  # before reading the events: one recorded while this report is on its way wakes the next
            try:
                more = await self.send()
            except sqlite3.Error as exc:  # the events stay where they are; the next interval tries again
                log.error("update events unreadable: %s", exc)
                more = False
            if more:
                continue
            waiting = asyncio.create_task(self.wake.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([waiting, stopping], timeout=self.interval_s, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiting, stopping):
                task.cancel()

    async def send(self) -> bool:
        """One report; True when it was taken and more events wait than it could carry."""
        pending = await self._db.run(self._state.pending_events, MAX_EVENTS)
        report = DeviceReport(ts=self._clock(), interval_s=self.interval_s, slots=self.slots(),
                              events=[event for _, event in pending])
        try:
            ack = await self._client.report(report)
        except RolloutError as exc:
            self.failures += 1
            self.last_error = exc.reason
            if self._error_log.ready():
                log.warning("update report not taken; its events wait in SQLite", extra={"reason": exc.reason,
                                                                                       "events": len(pending)})
            return False
        await self._db.run(self._state.acknowledged, [event_id for event_id, _ in pending])
        self.pending = await self._db.run(self._state.count_events)
        self.sent += 1
        self.last_ok_ts, self.last_error = self._clock(), None
        if ack.halted:
            self._on_halted(ack.halted)
        return len(pending) == MAX_EVENTS

    def slots(self) -> dict[str, SlotReport]:
        return {name: _slot_report(updater) for name, updater in self._updaters.items()}


def _slot_report(updater: SlotUpdater) -> SlotReport:
    record, slot, target = updater.record, updater.slot, updater.target
    active = slot.active() or (record.active.ref if record.active is not None else None)
    rollout = target.rollout_id if target is not None else record.active.rollout_id if record.active else None
    return SlotReport(
        state=record.state,  # type: ignore[arg-type]
        active=active, previous=record.previous.ref if record.previous is not None else None,
        target=ModelRef(name=target.name, version=target.version) if target is not None else None,
        rollout_id=rollout, reason=record.reason[:2000] if record.reason else None, since_ts=record.since_ts,
        performance=slot.performance(), shadow=updater.shadow,
    )

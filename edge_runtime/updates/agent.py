"""The update agent: the device's side of a rollout, on the daemon's loop, beside the alarm path.

Lifecycle, as the daemon drives it::

    agent = UpdateAgent(settings, state, client, trusted_keys=keys, models_dir=path)
    await agent.open()                    # before any slot loads a model: may choose the previous one
    package = agent.boot_package("risk")  # what the slot loads at start (None: its site-file model)
    ...                                   # build the slots with those packages
    task = asyncio.create_task(agent.run(stop, {"risk": risk_slot, "camera": camera_slot}))
    agent.status()                        # for /readyz, the dashboard and heartbeats
    stop.set(); await task; await agent.close()

``open`` counts a start that follows an unclean end (the run before never
reached its clean stop) while a new model is watched; too many within the
policy's window and the previous model boots instead, recorded as a
``rolled_back`` event: a model that crashes the daemon cannot keep a site
down. ``run`` polls the desired state, starts one install at a time per
slot (:mod:`.slot_updater`), resumes a watch the run before began, and
reports (:mod:`.report`). Nothing here blocks the loop: SQLite and files
run on the agent's two threads, and the slots do their heavy work off it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cloud_sync.contract.rollout import SLOTS, DesiredState, UpdateEvent
from edge_runtime.config.updates import UpdateSettings
from edge_runtime.logs import LogThrottle
from edge_runtime.sync.bandwidth import TokenBucket
from firmware_bridge.backoff import Backoff

from . import verify
from .client import RolloutClient, RolloutError
from .download import Downloader
from .report import Reporter
from .slot_updater import Deps, SlotUpdater
from .slots import ModelSlot
from .state import UpdateState
from .threads import Worker
from .watch import boot_loop

log = logging.getLogger(__name__)


class UpdateAgent:
    def __init__(self, settings: UpdateSettings, state: UpdateState, client: RolloutClient, *,
                 trusted_keys: Mapping[str, bytes] | None, models_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._state = state
        self._client = client
        self._clock = clock
        self._db, self._files = Worker("updates-db"), Worker("updates-files")
        self._models_dir = Path(models_dir)
        self._downloader = Downloader(
            client, self._models_dir / ".downloads", TokenBucket(settings.bandwidth_bytes_per_s, time.monotonic),
            self._files, retries=settings.download_retries, backoff=self._backoff)
        self._deps = Deps(settings, state, self._db, self._files, self._downloader, dict(trusted_keys or {}),
                          self._models_dir, clock, self._on_event)
        self._boot: dict[str, Path | None] = {}
        self._booted_previous: dict[str, str] = {}  # slot -> why its previous model boots
        self._updaters: dict[str, SlotUpdater] = {}
        self._reporter: Reporter | None = None
        self._halted: set[str] = set()
        self.desired: DesiredState | None = None
        self.last_poll_ts: float | None = None
        self.poll_error: str | None = None
        self._pending_events = 0
        self._poll_log = LogThrottle(60.0)

    # ---- start-up -----------------------------------------------------------
    async def open(self) -> None:
        """Read the committed state and decide what each slot boots; call before the slots load their models."""
        now = self._clock()
        unclean = await self._db.run(self._state.start_run, now)
        policy = self._settings.rollback
        for name in SLOTS:
            record = await self._db.run(self._state.slot, name)
            if unclean and record.state == "watching" and record.active is not None:
                boots = await self._db.run(self._state.count_boot, name, now, policy.boot_loop_window_s)
                if reason := boot_loop(boots, policy):
                    event = UpdateEvent(ts=now, kind="rolled_back", slot=name,  # type: ignore[arg-type]
                                        model=record.active.ref, rollout_id=record.active.rollout_id, reason=reason)
                    undone = await self._db.run(self._state.undo, name, "rolled_back", reason, event, now)
                    if undone is not None and undone.path is not None:
                        await self._files.run(verify.remove, undone.path, self._models_dir)
                    self._booted_previous[name] = reason
                    log.error("booting the previous model: %s", reason, extra={"slot": name,
                                                                              "version": record.active.version})
                    record = await self._db.run(self._state.slot, name)
            path = record.active.path if record.active is not None else None
            self._boot[name] = path if path is not None and await self._files.run(path.is_dir) else None
        self._pending_events = await self._db.run(self._state.count_events)

    def boot_package(self, slot: str) -> Path | None:
        """The package directory ``slot`` loads at start: its active install, the previous one after a crash
        loop across restarts, or None (the site file's model). Valid after :meth:`open`."""
        return self._boot.get(slot)

    # ---- running ------------------------------------------------------------
    async def run(self, stop: asyncio.Event, slots: Mapping[str, ModelSlot]) -> None:
        """Until ``stop`` is set; then records a clean end (the next start is not counted as a crash)."""
        self._updaters = {name: SlotUpdater(slot, self._deps) for name, slot in slots.items()}
        for updater in self._updaters.values():
            await updater.load()
            updater.resume_watch()
        self._reporter = Reporter(self._client, self._state, self._db, self._updaters,
                                  self._settings.report_interval_s, self._clock, self._add_halted)
        if self._booted_previous:
            self._reporter.wake.set()
        tasks = [asyncio.create_task(self._poll(stop), name="updates-poll"),
                 asyncio.create_task(self._report(stop), name="updates-report")]
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                task.result()  # a task that ended raised: let the owner see it
        finally:
            for task in (*tasks, stopping):
                task.cancel()
            await asyncio.gather(*tasks, stopping, return_exceptions=True)
            for updater in self._updaters.values():
                await updater.stop()
            if stop.is_set():
                await self._db.run(self._state.end_run, self._clock())

    async def close(self) -> None:
        """End the agent's threads (after :meth:`run` returned) and its database connection."""
        for worker in (self._files, self._db):
            await asyncio.to_thread(worker.close)
        await asyncio.to_thread(self._state.close)

    async def _poll(self, stop: asyncio.Event) -> None:
        backoff = self._backoff()
        while not stop.is_set():
            delay = self._settings.poll_interval_s
            try:
                desired = await self._client.desired()
            except RolloutError as exc:
                self.poll_error = exc.reason
                delay = min(delay, backoff.next_delay())
                if self._poll_log.ready():
                    log.warning("desired state not fetched", extra={"reason": exc.reason})
            else:
                backoff.reset()
                self.desired, self.last_poll_ts, self.poll_error = desired, self._clock(), None
                self._halted = set(desired.halted)
                # polled at least once per report interval: a rollout halted on another device's rollback
                # reaches this one within one interval of that report
                delay = min(delay, desired.report_interval_s)
                if self._reporter is not None:
                    self._reporter.interval_s = desired.report_interval_s
                for name, updater in self._updaters.items():
                    updater.consider(desired.models.get(name), self._halted)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _report(self, stop: asyncio.Event) -> None:
        assert self._reporter is not None
        self._reporter.pending = self._pending_events
        await self._reporter.run(stop)

    # ---- callbacks and status ---------------------------------------------------
    def _on_event(self, event: UpdateEvent) -> None:
        if self._reporter is not None:
            self._reporter.pending += 1
            self._reporter.wake.set()

    def _add_halted(self, rollouts: list[str]) -> None:
        self._halted |= set(rollouts)

    def _backoff(self) -> Backoff:
        return Backoff(initial=self._settings.retry_initial_s, maximum=self._settings.retry_max_s)

    def status(self) -> dict[str, Any]:
        """For /readyz, the dashboard and heartbeats: each slot's state and models, the cloud link, the backlog."""
        slots: dict[str, Any] = {}
        for name, updater in self._updaters.items():
            record = updater.record
            slots[name] = {
                "state": record.state,
                "active": _ref(updater.slot.active()),
                "previous": _ref(record.previous.ref if record.previous else None),
                "target": {"name": updater.target.name, "version": updater.target.version} if updater.target else None,
                "reason": record.reason, "since_ts": record.since_ts, "watch_until": record.watch_until,
            }
        reporter = self._reporter
        return {
            "enabled": True, "slots": slots, "booted_previous": dict(self._booted_previous),
            "last_poll_ts": self.last_poll_ts, "poll_error": self.poll_error, "halted": sorted(self._halted),
            "pending_events": reporter.pending if reporter else self._pending_events,
            "bytes_downloaded": self._downloader.bytes_received,
            "reports": {"sent": reporter.sent, "failures": reporter.failures, "last_ok_ts": reporter.last_ok_ts,
                        "error": reporter.last_error} if reporter else None,
        }


def _ref(ref: Any) -> dict[str, Any] | None:
    return ref.model_dump() if ref is not None else None

"""Alarm notifier for the serial siren/wearable controller.

Sirens are *state*, not events: a zone's siren is on while at least one open,
un-muted, un-shelved alarm names the zone in ``alarm.notify.sirens``, and off
when none does. Each zone has one worker task that drives the controller to
the latest wanted state and keeps retrying (with the shared backoff) until it
gets there, so an "off" can never overtake an "on" still being retried, and a
siren command lost while the link is down is delivered once it is back.
Vibrations are events: new, escalated and re-alarmed alarms (and pre-alarms)
buzz the notified workers' wearables once; a stale buzz is not retried.

The alarm engine calls in on the event-loop thread; nothing here awaits on
the caller: every send is a task.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping

from edge_runtime.alarms.model import Alarm, AlarmTransition, PreAlarm, TransitionCause
from edge_runtime.alarms.rules import SOUNDING_STATES, sirens_sounded
from firmware_bridge.backoff import Backoff
from firmware_bridge.controller_client import ControllerClient
from firmware_bridge.errors import BridgeError

log = logging.getLogger(__name__)

#: Causes that buzz the notified workers. RESTORED is left out: the alarm was
#: announced before the restart (notify comes before persist).
VIBRATE_CAUSES = frozenset({TransitionCause.RAISED, TransitionCause.ESCALATED, TransitionCause.RE_ALARMED})
PRE_ALARM_PATTERN = 1
ALARM_VIBRATE_MS = 1500
PRE_ALARM_VIBRATE_MS = 800

SirenWanted = tuple[bool, int]  # (on, pattern)


def priority_pattern(alarm: Alarm) -> int:
    """Default siren/vibration pattern: the ISA priority number (1 low .. 4 critical)."""
    return int(alarm.priority)


class ControllerNotifier:
    """Turns alarm transitions and pre-alarms into controller commands.

    ``wearables`` maps worker id -> wearable id. ``loop`` defaults to the
    running loop at call time (the engine runs on it).
    """

    def __init__(
        self,
        client: ControllerClient,
        wearables: Mapping[str, str],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        pattern_for: Callable[[Alarm], int] = priority_pattern,
        backoff_factory: Callable[[], Backoff] = lambda: Backoff(initial=0.2, maximum=5.0),
    ) -> None:
        self._client = client
        self._wearables = dict(wearables)
        self._loop = loop
        self._pattern_for = pattern_for
        self._backoff_factory = backoff_factory
        self.failures = 0  # failed sends (siren attempts and vibrations)
        self._sounding: dict[str, dict[str, int]] = {}  # zone -> {alarm_id: pattern}
        self._alarm_zones: dict[str, frozenset[str]] = {}  # alarm_id -> zones it sounds
        self._wanted: dict[str, SirenWanted] = {}
        self._commanded: dict[str, SirenWanted] = {}
        self._zone_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- engine callbacks -----------------------------------------------------------
    def on_transition(self, t: AlarmTransition) -> None:
        alarm = t.alarm
        zones = sirens_sounded(alarm, t.ts)
        pattern = self._pattern_for(alarm)
        for zone in self._alarm_zones.get(alarm.alarm_id, frozenset()) - zones:
            self._sounding.get(zone, {}).pop(alarm.alarm_id, None)
            self._refresh(zone)
        for zone in zones:
            self._sounding.setdefault(zone, {})[alarm.alarm_id] = pattern
            self._refresh(zone)
        if zones:
            self._alarm_zones[alarm.alarm_id] = zones
        else:
            self._alarm_zones.pop(alarm.alarm_id, None)

        if t.cause in VIBRATE_CAUSES and alarm.state in SOUNDING_STATES:
            for worker in dict.fromkeys(alarm.notify.workers):
                wearable = self._wearables.get(worker)
                if wearable is not None:
                    self._spawn(self._vibrate(wearable, pattern, ALARM_VIBRATE_MS))

    def on_pre_alarm(self, p: PreAlarm) -> None:
        if p.cancelled:
            return
        wearable = p.wearable or self._wearables.get(p.worker)
        if wearable is None:
            log.warning("pre-alarm for %s: no wearable known", p.worker)
            return
        self._spawn(self._vibrate(wearable, PRE_ALARM_PATTERN, PRE_ALARM_VIBRATE_MS))

    # -- introspection ------------------------------------------------------------------
    def siren_wanted(self, zone: str) -> bool:
        """Whether the zone's siren should be sounding now."""
        return self._wanted.get(zone, (False, 0))[0]

    @property
    def pending(self) -> int:
        """Sends not finished yet (for a clean shutdown or a test)."""
        return len(self._tasks)

    def close(self) -> None:
        """Cancel outstanding sends (shutdown)."""
        for task in list(self._tasks):
            task.cancel()

    # -- internals -------------------------------------------------------------------------
    def _refresh(self, zone: str) -> None:
        alarms = self._sounding.get(zone)
        wanted: SirenWanted = (True, max(alarms.values())) if alarms else (False, 0)
        if not alarms:
            self._sounding.pop(zone, None)
        if wanted == self._wanted.get(zone, (False, 0)):
            return
        self._wanted[zone] = wanted
        task = self._zone_tasks.get(zone)
        if task is None or task.done():
            self._zone_tasks[zone] = self._spawn(self._drive_zone(zone))

    async def _drive_zone(self, zone: str) -> None:
        """Send the latest wanted state until the controller has it."""
        backoff = self._backoff_factory()
        while (wanted := self._wanted.get(zone, (False, 0))) != self._commanded.get(zone, (False, 0)):
            on, pattern = wanted
            try:
                await self._client.set_siren(zone, on, pattern)
            except BridgeError as exc:
                self.failures += 1
                delay = backoff.next_delay()
                log.error("siren %s %s failed (%s); retrying in %.1fs", zone, "on" if on else "off", exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._commanded[zone] = wanted

    async def _vibrate(self, wearable: str, pattern: int, duration_ms: int) -> None:
        try:
            await self._client.vibrate(wearable, pattern, duration_ms)
        except BridgeError as exc:
            self.failures += 1
            log.error("vibrate %s failed: %s", wearable, exc)

    def _spawn(self, coro: Coroutine[None, None, None]) -> asyncio.Task[None]:
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.failures += 1
            log.error("controller send crashed", exc_info=exc)

"""Supervisors' zone actions: sound or silence a siren, order or end an evacuation.

Each action goes through the alarm engine like any alarm (so MQTT, the serial
controller and SQLite hear of it the usual way, in the same loop tick) and is
then recorded in ``zone_actions`` with who, when and why, and published on
the bus as a :class:`ZoneActionEvent` for live pages. People only end what
people started: silencing a siren mutes the sensor alarms sounding it (they
stay open and visible), and an all clear ends a manual evacuation only; an
evacuation ordered by gas detectors lasts until the gas is gone.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import Alarm, AlarmKind, AlarmState, ConditionUpdate, Notify, Priority
from edge_runtime.alarms.rules import sounding_in
from edge_runtime.config.zones import Zone
from edge_runtime.fusion.conditions import zone_label, zone_subject
from edge_runtime.store import StoreError
from edge_runtime.store.zone_actions_table import ZoneActionsTable

from .schemas import ZoneActionList, ZoneActionName, ZoneActionOut

if TYPE_CHECKING:
    from edge_runtime.daemon import EdgeDaemon

log = logging.getLogger(__name__)

MANUAL_SIREN = "manual:siren"  # condition keys of the alarms people raise, beside fusion's own
MANUAL_EVACUATE = "manual:evacuate"
SENSOR_EVACUATE = "evacuate"  # the condition fusion raises when two detectors in a zone alarm


class ZoneActionError(Exception):
    """Root of what a zone action refuses or fails to do."""


class UnknownZone(ZoneActionError, LookupError):
    """No zone of the site has this id."""


class ZoneActionRefused(ZoneActionError):
    """The zone's state does not allow the action (the message says why)."""


class ZoneActionNotRecorded(ZoneActionError):
    """The action was carried out, but writing it to the database failed."""


@dataclass(frozen=True, slots=True)
class ZoneActionEvent:
    """Published on the daemon's bus after every zone action, so live pages show it."""

    action: ZoneActionOut


@dataclass(slots=True)
class _Outcome:
    alarm_id: str | None
    muted: list[str] = field(default_factory=list)


class ZoneActions:
    """Runs zone actions on the daemon's alarm engine and keeps their log in SQLite."""

    def __init__(self, daemon: EdgeDaemon, db_path: Path) -> None:
        self._daemon = daemon
        self._zones = {z.id: z for z in daemon.config.zones}
        self._table = ZoneActionsTable(db_path)
        self._actions: dict[str, Callable[[Zone, str, str | None, float], _Outcome]] = {
            "siren_on": self._siren_on,
            "siren_off": self._siren_off,
            "evacuate": self._evacuate,
            "all_clear": self._all_clear,
        }

    async def run(self, zone: str, action: ZoneActionName, by: str, note: str | None = None) -> ZoneActionOut:
        """Carry out ``action`` on ``zone`` as ``by``; raises UnknownZone, ZoneActionRefused, ZoneActionNotRecorded.

        The engine part runs on the loop (it is the alarm path and takes
        microseconds), so checking the zone's state and acting on it cannot
        interleave with another request.
        """
        target = self._zone(zone)
        ts = self._daemon.clock()
        outcome = self._actions[action](target, by, note, ts)
        try:
            action_id = await asyncio.to_thread(self._table.insert, zone, action, by, ts, note, outcome.alarm_id)
        except StoreError as exc:
            log.error("zone action %s on %s by %s not recorded: %s", action, zone, by, exc)
            raise ZoneActionNotRecorded(f"{action} on zone {zone} was carried out but not recorded: {exc}") from exc
        out = ZoneActionOut(
            id=action_id, zone=zone, action=action, by=by, ts=ts, note=note, alarm_id=outcome.alarm_id,
            muted=outcome.muted, siren_alarms=[a.alarm_id for a in sounding(self._daemon.alarms, zone, ts)],
        )
        self._daemon.bus.publish(ZoneActionEvent(out))
        return out

    async def list(self, since: float, until: float, zone: str | None = None, limit: int = 500) -> ZoneActionList:
        """Actions in [since, until), newest first."""
        rows = await asyncio.to_thread(self._table.select, since, until, zone, limit)
        return ZoneActionList(actions=[ZoneActionOut.model_validate(r) for r in rows])

    def close(self) -> None:
        self._table.close()

    # -- the actions ------------------------------------------------------------------------------

    def _siren_on(self, zone: Zone, by: str, note: str | None, ts: float) -> _Outcome:
        _require_siren(zone)
        current = self._manual(zone, MANUAL_SIREN)
        if current is not None:
            raise ZoneActionRefused(f"the siren of zone {zone.id} is already on by hand (alarm {current.alarm_id})")
        return _Outcome(self._raise(self._manual_siren(zone, True, f"Siren sounded by {by}", ts)))

    def _siren_off(self, zone: Zone, by: str, note: str | None, ts: float) -> _Outcome:
        """End the manual siren and mute every other alarm sounding the zone's siren."""
        _require_siren(zone)
        manual = self._manual(zone, MANUAL_SIREN)
        manual_id = manual.alarm_id if manual is not None else None
        others = [a for a in sounding(self._daemon.alarms, zone.id, ts) if a.alarm_id != manual_id]
        if manual is None and not others:
            raise ZoneActionRefused(f"the siren of zone {zone.id} is not sounding")
        if manual is not None:
            self._end(manual, self._manual_siren(zone, False, f"Siren silenced by {by}", ts), by, note)
        engine = self._daemon.alarms
        muted = [engine.mute(a.alarm_id, by).alarm_id for a in others if a.state is AlarmState.UNACK]
        return _Outcome(manual_id, muted)

    def _evacuate(self, zone: Zone, by: str, note: str | None, ts: float) -> _Outcome:
        current = self._manual(zone, MANUAL_EVACUATE)
        if current is not None:
            raise ZoneActionRefused(f"the evacuation of zone {zone.id} is already ordered (alarm {current.alarm_id})")
        workers = tuple(sorted(self._daemon.fusion.zone_occupants(zone.id)))
        message = f"Evacuate {zone_label(zone)}: ordered by {by}"
        return _Outcome(self._raise(self._manual_evacuation(zone, True, message, ts, workers)))

    def _all_clear(self, zone: Zone, by: str, note: str | None, ts: float) -> _Outcome:
        """End the manual evacuation; one ordered by detectors is not a person's to end."""
        manual = self._manual(zone, MANUAL_EVACUATE)
        if manual is None:
            sensor = self._daemon.alarms.by_key((zone_subject(zone.id), SENSOR_EVACUATE))
            if sensor is not None:
                raise ZoneActionRefused(
                    f"zone {zone.id} is evacuating because its gas detectors alarm (alarm {sensor.alarm_id}): "
                    "that evacuation ends when the gas is gone, not by an all clear"
                )
            raise ZoneActionRefused(f"zone {zone.id} has no evacuation to clear")
        message = f"All clear for {zone_label(zone)} given by {by}"
        self._end(manual, self._manual_evacuation(zone, False, message, ts, manual.notify.workers), by, note)
        return _Outcome(manual.alarm_id)

    # -- engine helpers ---------------------------------------------------------------------------

    def _zone(self, zone_id: str) -> Zone:
        try:
            return self._zones[zone_id]
        except KeyError:
            raise UnknownZone(f"unknown zone {zone_id!r}") from None

    def _manual(self, zone: Zone, condition: str) -> Alarm | None:
        return self._daemon.alarms.by_key((zone_subject(zone.id), condition))

    def _raise(self, update: ConditionUpdate) -> str | None:
        """Report the condition; the alarm's id, or None while a site-configured on-delay holds it back."""
        self._daemon.alarms.update(update)
        alarm = self._daemon.alarms.by_key(update.key)
        return alarm.alarm_id if alarm is not None else None

    def _end(self, alarm: Alarm, update: ConditionUpdate, by: str, note: str | None) -> None:
        """Acknowledge as the person ending it, then report it gone: it closes (after any off-delay)."""
        self._daemon.alarms.acknowledge(alarm.alarm_id, by, note=note)
        self._daemon.alarms.update(update)

    @staticmethod
    def _manual_siren(zone: Zone, active: bool, message: str, ts: float) -> ConditionUpdate:
        return ConditionUpdate(
            zone_subject(zone.id), MANUAL_SIREN, AlarmKind.MANUAL_SIREN, active, Priority.HIGH, message, ts,
            notify=Notify(sirens=(zone.id,)), zone=zone.id,
        )

    @staticmethod
    def _manual_evacuation(
        zone: Zone, active: bool, message: str, ts: float, workers: tuple[str, ...]
    ) -> ConditionUpdate:
        return ConditionUpdate(
            zone_subject(zone.id), MANUAL_EVACUATE, AlarmKind.ZONE_EVACUATE, active, Priority.CRITICAL, message, ts,
            notify=Notify(workers=workers, sirens=(zone.id,) if zone.siren else ()), zone=zone.id,
        )


def sounding(engine: AlarmEngine, zone_id: str, now: float) -> list[Alarm]:
    """Open alarms sounding the zone's siren now (the notifiers' rule, alarms.rules)."""
    return sounding_in(engine.active(), zone_id, now)


def _require_siren(zone: Zone) -> None:
    if not zone.siren:
        raise ZoneActionRefused(f"zone {zone.id} has no siren")

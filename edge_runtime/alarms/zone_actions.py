"""What supervisors' zone actions do to the alarms: sound or silence a siren, order or end an evacuation.

Each action goes through the alarm engine like any alarm (so MQTT, the serial
controller and SQLite hear of it the usual way, in the same loop tick). People
only end what people started: silencing a siren mutes the sensor alarms
sounding it (they stay open and visible), and an all clear ends a manual
evacuation only; an evacuation ordered by gas detectors lasts until the gas is
gone. Recording the action and telling live pages is the dashboard's part
(``dashboard.zone_actions``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .engine import AlarmEngine
from .errors import AlarmError
from .model import Actor, Alarm, AlarmKind, AlarmState, ConditionUpdate, Notify, Priority
from .rules import sounding_in
from .subjects import zone_label, zone_subject

if TYPE_CHECKING:
    from edge_runtime.config.zones import Zone

MANUAL_SIREN = "manual:siren"  # condition keys of the alarms people raise, beside fusion's own
MANUAL_EVACUATE = "manual:evacuate"
SENSOR_EVACUATE = "evacuate"  # the condition fusion raises when two detectors in a zone alarm
ACTIONS = ("siren_on", "siren_off", "evacuate", "all_clear")


class ZoneActionError(AlarmError):
    """Root of what a zone action refuses or fails to do."""


class UnknownZone(ZoneActionError, LookupError):
    """No zone of the site has this id."""


class ZoneActionRefused(ZoneActionError):
    """The zone's state does not allow the action (the message says why)."""


@dataclass(slots=True)
class ZoneActionOutcome:
    """The alarm the action raised or ended (None while an on-delay holds it back), and those it muted."""

    alarm_id: str | None
    muted: list[str] = field(default_factory=list)


class ZoneAlarmActions:
    """Runs zone actions on the alarm engine; ``occupants(zone_id)`` names who is in a zone (fusion's view)."""

    def __init__(self, engine: AlarmEngine, zones: Iterable[Zone], occupants: Callable[[str], Iterable[str]]) -> None:
        self._engine = engine
        self._zones = {z.id: z for z in zones}
        self._occupants = occupants
        self._actions: dict[str, Callable[[Zone, Actor, str | None, float], ZoneActionOutcome]] = {
            "siren_on": self._siren_on,
            "siren_off": self._siren_off,
            "evacuate": self._evacuate,
            "all_clear": self._all_clear,
        }

    def zone(self, zone_id: str) -> Zone:
        try:
            return self._zones[zone_id]
        except KeyError:
            raise UnknownZone(f"unknown zone {zone_id!r}") from None

    def run(self, zone: Zone, action: str, actor: Actor, note: str | None, ts: float) -> ZoneActionOutcome:
        """Carry out ``action`` (one of :data:`ACTIONS`) on ``zone`` as ``actor``; raises ZoneActionRefused.

        Every transition it causes (the raise and the end of a manual alarm
        too) names the actor. Call it on the loop (it is the alarm path and
        takes microseconds), so checking the zone's state and acting on it
        cannot interleave.
        """
        return self._actions[action](zone, actor, note, ts)

    def sounding(self, zone_id: str, now: float) -> list[Alarm]:
        """Open alarms sounding the zone's siren now (the notifiers' rule, alarms.rules)."""
        return sounding_in(self._engine.active(), zone_id, now)

    # -- the actions ------------------------------------------------------------------------------

    def _siren_on(self, zone: Zone, actor: Actor, note: str | None, ts: float) -> ZoneActionOutcome:
        _require_siren(zone)
        current = self._manual(zone, MANUAL_SIREN)
        if current is not None:
            raise ZoneActionRefused(f"the siren of zone {zone.id} is already on by hand (alarm {current.alarm_id})")
        message = f"Siren sounded by {actor.identity}"
        return ZoneActionOutcome(self._raise(_manual_siren(zone, True, message, ts, actor)))

    def _siren_off(self, zone: Zone, actor: Actor, note: str | None, ts: float) -> ZoneActionOutcome:
        """End the manual siren and mute every other alarm sounding the zone's siren."""
        _require_siren(zone)
        manual = self._manual(zone, MANUAL_SIREN)
        manual_id = manual.alarm_id if manual is not None else None
        others = [a for a in self.sounding(zone.id, ts) if a.alarm_id != manual_id]
        if manual is None and not others:
            raise ZoneActionRefused(f"the siren of zone {zone.id} is not sounding")
        if manual is not None:
            self._end(manual, _manual_siren(zone, False, f"Siren silenced by {actor.identity}", ts, actor), actor, note)
        muted = [self._engine.mute(a.alarm_id, actor).alarm_id for a in others if a.state is AlarmState.UNACK]
        return ZoneActionOutcome(manual_id, muted)

    def _evacuate(self, zone: Zone, actor: Actor, note: str | None, ts: float) -> ZoneActionOutcome:
        current = self._manual(zone, MANUAL_EVACUATE)
        if current is not None:
            raise ZoneActionRefused(f"the evacuation of zone {zone.id} is already ordered (alarm {current.alarm_id})")
        workers = tuple(sorted(self._occupants(zone.id)))
        message = f"Evacuate {zone_label(zone)}: ordered by {actor.identity}"
        return ZoneActionOutcome(self._raise(_manual_evacuation(zone, True, message, ts, workers, actor)))

    def _all_clear(self, zone: Zone, actor: Actor, note: str | None, ts: float) -> ZoneActionOutcome:
        """End the manual evacuation; one ordered by detectors is not a person's to end."""
        manual = self._manual(zone, MANUAL_EVACUATE)
        if manual is None:
            sensor = self._engine.by_key((zone_subject(zone.id), SENSOR_EVACUATE))
            if sensor is not None:
                raise ZoneActionRefused(
                    f"zone {zone.id} is evacuating because its gas detectors alarm (alarm {sensor.alarm_id}): "
                    "that evacuation ends when the gas is gone, not by an all clear"
                )
            raise ZoneActionRefused(f"zone {zone.id} has no evacuation to clear")
        message = f"All clear for {zone_label(zone)} given by {actor.identity}"
        self._end(manual, _manual_evacuation(zone, False, message, ts, manual.notify.workers, actor), actor, note)
        return ZoneActionOutcome(manual.alarm_id)

    # -- engine helpers ---------------------------------------------------------------------------

    def _manual(self, zone: Zone, condition: str) -> Alarm | None:
        return self._engine.by_key((zone_subject(zone.id), condition))

    def _raise(self, update: ConditionUpdate) -> str | None:
        """Report the condition; the alarm's id, or None while a site-configured on-delay holds it back."""
        self._engine.update(update)
        alarm = self._engine.by_key(update.key)
        return alarm.alarm_id if alarm is not None else None

    def _end(self, alarm: Alarm, update: ConditionUpdate, actor: Actor, note: str | None) -> None:
        """Acknowledge as the person ending it, then report it gone: it closes (after any off-delay)."""
        self._engine.acknowledge(alarm.alarm_id, actor, note=note)
        self._engine.update(update)


def _manual_siren(zone: Zone, active: bool, message: str, ts: float, actor: Actor) -> ConditionUpdate:
    return ConditionUpdate(
        zone_subject(zone.id), MANUAL_SIREN, AlarmKind.MANUAL_SIREN, active, Priority.HIGH, message, ts,
        notify=Notify(sirens=(zone.id,)), zone=zone.id, actor=actor,
    )


def _manual_evacuation(
    zone: Zone, active: bool, message: str, ts: float, workers: tuple[str, ...], actor: Actor
) -> ConditionUpdate:
    return ConditionUpdate(
        zone_subject(zone.id), MANUAL_EVACUATE, AlarmKind.ZONE_EVACUATE, active, Priority.CRITICAL, message, ts,
        notify=Notify(workers=workers, sirens=(zone.id,) if zone.siren else ()), zone=zone.id, actor=actor,
    )


def _require_siren(zone: Zone) -> None:
    if not zone.siren:
        raise ZoneActionRefused(f"zone {zone.id} has no siren")

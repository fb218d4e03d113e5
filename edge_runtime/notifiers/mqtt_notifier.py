"""Alarm transitions to MQTT: worker alerts, zone sirens and retained alarm records.

Called synchronously by the alarm engine in the tick that made the change, so
an alert is handed to the link (which never blocks) before anything is
persisted. Order inside a call follows urgency: wearables first, then
sirens, then the record dashboards read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    PreAlarm,
    Priority,
    SubjectKind,
)
from edge_runtime.alarms.rules import sirens_sounded
from edge_runtime.mqtt.link import MqttLink
from edge_runtime.mqtt.messages import alert_payload, pre_alarm_payload, record_payload, siren_payload
from edge_runtime.mqtt.topics import Topics

log = logging.getLogger(__name__)

# States people are not told about: a shelved, suppressed or out-of-service
# alarm must not buzz a wearable (the engine announces it again when lifted).
HIDDEN_STATES = frozenset({AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})
SIREN_OFF_PATTERN = "none"


def siren_pattern(alarm: Alarm) -> str:
    """The pattern an alarm asks of a siren: evacuation is distinct from a warning."""
    if alarm.kind is AlarmKind.ZONE_EVACUATE:
        return "evacuate"
    return "fast" if alarm.priority >= Priority.HIGH else "slow"


def _urgency(alarm: Alarm) -> tuple[bool, Priority, float]:
    return (alarm.kind is AlarmKind.ZONE_EVACUATE, alarm.priority, -alarm.raised_ts)


@dataclass(frozen=True, slots=True)
class _SirenCommand:
    on: bool
    pattern: str


class MqttNotifier:
    """Publishes what each alarm transition means for wearables, sirens and dashboards."""

    def __init__(self, link: MqttLink, topics: Topics, siren_zones: Iterable[str] = ()) -> None:
        """``siren_zones`` start commanded off, so a siren left on by a crashed daemon
        is switched off once alarms have been restored; create the notifier and
        replay restored alarms before starting the link, and only the final
        state goes out."""
        self._link = link
        self._topics = topics
        self._sounding: dict[str, dict[str, Alarm]] = {}  # zone -> alarm_id -> alarm sounding it
        self._zones_of: dict[str, frozenset[str]] = {}  # alarm_id -> zones it sounds now
        self._sirens: dict[str, _SirenCommand] = {}  # zone -> last command published
        self.errors = 0  # unpublishable ids (bad worker/zone names), logged
        for zone in siren_zones:
            self._publish_siren(zone, _SirenCommand(False, SIREN_OFF_PATTERN), None)

    def on_transition(self, t: AlarmTransition) -> None:
        alarm = t.alarm
        # the engine marks every transition that must alert people ("announce");
        # other visible state changes (ack, clear) update what the wearable shows
        if t.extra.get("announce") or (t.from_state is not t.to_state and t.to_state not in HIDDEN_STATES):
            payload = alert_payload(alarm, t.ts)
            for worker in self._recipients(alarm):
                self._publish_alert(worker, payload)
        self._update_sirens(alarm, t.ts)
        self._update_record(alarm)

    def on_pre_alarm(self, p: PreAlarm) -> None:
        """The worker's own wearable warns (or stops warning) before supervisors are told."""
        self._publish_alert(p.worker, pre_alarm_payload(p))

    # --- worker alerts --------------------------------------------------------------

    @staticmethod
    def _recipients(alarm: Alarm) -> Iterator[str]:
        seen: set[str] = set()
        if alarm.subject.kind is SubjectKind.WORKER:
            seen.add(alarm.subject.id)
            yield alarm.subject.id  # the worker in danger first
        for worker in alarm.notify.workers:
            if worker not in seen:
                seen.add(worker)
                yield worker

    def _publish_alert(self, worker: str, payload: bytes) -> None:
        try:
            topic = self._topics.worker_alert(worker)
        except ValueError as exc:  # one bad id must not silence the other wearables
            self.errors += 1
            log.error("cannot alert worker %r: %s", worker, exc)
            return
        self._link.publish(topic, payload, qos=1)

    # --- sirens ---------------------------------------------------------------------

    def _update_sirens(self, alarm: Alarm, now: float) -> None:
        wanted = sirens_sounded(alarm, now)
        held = self._zones_of.get(alarm.alarm_id, frozenset())
        if wanted:
            self._zones_of[alarm.alarm_id] = wanted
        else:
            self._zones_of.pop(alarm.alarm_id, None)
        for zone in held - wanted:
            members = self._sounding.get(zone, {})
            members.pop(alarm.alarm_id, None)
            if not members:
                self._sounding.pop(zone, None)
        for zone in wanted:
            self._sounding.setdefault(zone, {})[alarm.alarm_id] = alarm
        for zone in held | wanted:
            self._command_siren(zone, alarm)

    def _command_siren(self, zone: str, changed: Alarm) -> None:
        members = self._sounding.get(zone)
        if members:
            leader = max(members.values(), key=_urgency)
            command = _SirenCommand(True, siren_pattern(leader))
            alarm_id = leader.alarm_id
        else:
            command = _SirenCommand(False, SIREN_OFF_PATTERN)
            alarm_id = changed.alarm_id
        if self._sirens.get(zone, _SirenCommand(False, SIREN_OFF_PATTERN)) != command:
            self._publish_siren(zone, command, alarm_id)

    def _publish_siren(self, zone: str, command: _SirenCommand, alarm_id: str | None) -> None:
        try:
            topic = self._topics.siren_set(zone)
        except ValueError as exc:
            self.errors += 1
            log.error("cannot command siren of zone %r: %s", zone, exc)
            return
        self._sirens[zone] = command
        self._link.set_retained_state(topic, siren_payload(command.on, command.pattern, alarm_id))

    # --- alarm records --------------------------------------------------------------

    def _update_record(self, alarm: Alarm) -> None:
        try:
            topic = self._topics.alarm(alarm.alarm_id)
        except ValueError as exc:
            self.errors += 1
            log.error("cannot publish record of alarm %r: %s", alarm.alarm_id, exc)
            return
        if alarm.state is AlarmState.NORMAL:
            self._link.set_retained_state(topic, b"")  # an empty retained payload deletes it
        else:
            self._link.set_retained_state(topic, record_payload(alarm))

"""What an alarm's state means for the people around it, written once.

The notifiers (MQTT, the serial controller), the dashboard's site map, the
supervisors' zone actions and both acknowledgement paths (the MQTT ack topic
and ``POST /alarms/{id}/ack``) all ask these questions; they must get the same
answer, or a siren shown off on the map could be sounding on site.
"""
from __future__ import annotations

from collections.abc import Iterable

from .model import Alarm, AlarmState

#: Open states in which an alarm sounds its zones' sirens (unless muted): shelved,
#: suppressed and out-of-service alarms are deliberately silent; NORMAL means closed.
SOUNDING_STATES = frozenset({AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK})
#: States in which an alarm waits for a person's acknowledgement.
ACKABLE_STATES = frozenset({AlarmState.UNACK, AlarmState.RTN_UNACK})


def is_muted(alarm: Alarm, now: float) -> bool:
    """A supervisor silenced it and the mute has not run out yet."""
    return alarm.muted_until is not None and alarm.muted_until > now


def sounds_siren(alarm: Alarm, now: float) -> bool:
    """Whether the alarm sounds the sirens it names (``alarm.notify.sirens``) at ``now``."""
    return alarm.state in SOUNDING_STATES and not is_muted(alarm, now)


def sirens_sounded(alarm: Alarm, now: float) -> frozenset[str]:
    """The zones whose siren this alarm sounds at ``now`` (none when it does not sound)."""
    return frozenset(alarm.notify.sirens) if sounds_siren(alarm, now) else frozenset()


def sounding_in(alarms: Iterable[Alarm], zone_id: str, now: float) -> list[Alarm]:
    """Those of ``alarms`` sounding the siren of ``zone_id`` at ``now``."""
    return [a for a in alarms if zone_id in a.notify.sirens and sounds_siren(a, now)]


def can_acknowledge(alarm: Alarm) -> bool:
    """Whether the alarm waits for an acknowledgement (an acked or shelved one does not)."""
    return alarm.state in ACKABLE_STATES

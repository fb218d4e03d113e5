"""The alarm vocabulary shared by fusion (which raises conditions), the alarm
engine (which runs the ISA-18.2 lifecycle), the store and the notifiers.

Fusion never creates alarms directly: it reports :class:`ConditionUpdate`s,
one per (subject, condition) key, and the engine decides what that means for
the alarm's state. That keeps "one event, one alarm" in a single place.

Every change names its :class:`Actor`: the channel it came through and the
identity that channel authenticated, never a name a message claims.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloud_sync.contract.records import AlarmRecord


class Priority(enum.IntEnum):
    """Four ISA-18.2 priorities; higher value = more urgent."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class AlarmKind(str, enum.Enum):
    """Every condition the runtime can alarm on; values are stable wire names."""

    GAS_LOW = "gas_low"
    GAS_HIGH = "gas_high"
    GAS_STEL = "gas_stel"
    GAS_TWA = "gas_twa"
    GAS_OVER_RANGE = "gas_over_range"
    GAS_DRIFT = "gas_drift"
    GAS_SENSOR_STALE = "gas_sensor_stale"
    GAS_BUMP_DUE = "gas_bump_due"
    GAS_CALIBRATION_DUE = "gas_calibration_due"
    GAS_LEL_POISONED = "gas_lel_poisoned"
    ZONE_GAS = "zone_gas"  # a fixed detector over a set point: everyone in the zone
    ZONE_EVACUATE = "zone_evacuate"  # two detectors in one zone
    HR_HIGH = "hr_high"
    HR_LOW = "hr_low"
    HR_NO_SIGNAL = "hr_no_signal"
    NO_MOTION = "no_motion"
    FALL = "fall"
    MAN_DOWN = "man_down"  # fused: no-motion/fall with abnormal or missing HR
    PANIC = "panic"
    CHECK_IN_MISSED = "check_in_missed"
    LOW_BATTERY = "low_battery"
    LINK_LOST = "link_lost"
    NO_POSITION = "no_position"
    GEOFENCE = "geofence"  # unauthorised entry, missing gas monitor in a confined space
    PROXIMITY = "proximity"
    CAMERA_INTRUDER = "camera_intruder"  # a person in a restricted zone with no authorised tag there
    PPE_MISSING = "ppe_missing"  # a person without helmet/vest near a tagged worker
    PERSON_DOWN = "person_down"  # a camera sees a person lying on the ground
    CAMERA_OFFLINE = "camera_offline"
    STORAGE_FAILED = "storage_failed"  # the database cannot be opened or written: alarm history is held, not kept
    MANUAL_SIREN = "manual_siren"  # a supervisor sounded a zone siren from the dashboard


# Kinds that people raise (dashboard zone actions), not sensors: no scenario or
# sensor rule produces them. ZONE_EVACUATE is absent: detectors order it too.
SUPERVISOR_KINDS = frozenset({AlarmKind.MANUAL_SIREN})
# Kinds the node raises about itself (its storage), not about the site: no scenario produces them.
NODE_KINDS = frozenset({AlarmKind.STORAGE_FAILED})


class SubjectKind(str, enum.Enum):
    WORKER = "worker"
    ZONE = "zone"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who or what an alarm is about."""

    kind: SubjectKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


class Channel(str, enum.Enum):
    """How an action reached the engine; each channel authenticates its own identities."""

    DASHBOARD = "dashboard"  # a signed-in dashboard session: its account name
    MQTT = "mqtt"  # a console's broker account (the ACL lets it ack only as itself)
    WEARABLE = "wearable"  # the worker's own wearable: its id (the gateway accounts' ACL covers it)
    SYSTEM = "system"  # the daemon itself: sensors, timers, restore (no Actor, no identity)


#: The channels a person labels alarms through (a verdict needs a supervisor's account).
LABELLING_CHANNELS = frozenset({Channel.DASHBOARD, Channel.MQTT})


@dataclass(frozen=True, slots=True)
class Actor:
    """A person who did something: the channel and the identity it authenticated.

    ``may_label`` is set by the channel from the account's role (a dashboard
    supervisor or admin, a supervisor console on MQTT); the engine refuses a
    verdict from anyone else. The daemon itself is no Actor: its transitions
    have no ``by`` and the SYSTEM channel.
    """

    channel: Channel
    identity: str
    may_label: bool = False

    def __post_init__(self) -> None:
        if self.channel is Channel.SYSTEM:
            raise ValueError("the daemon itself acts as no Actor (its transitions carry the system channel)")
        if not self.identity or not self.identity.strip():
            raise ValueError(f"a {self.channel.value} actor needs the identity its channel authenticated")
        if self.may_label and self.channel not in LABELLING_CHANNELS:
            raise ValueError(f"nobody labels alarms through the {self.channel.value} channel")


@dataclass(frozen=True, slots=True)
class Notify:
    """Who must be told: workers' wearables get alerts, zone sirens sound."""

    workers: tuple[str, ...] = ()
    sirens: tuple[str, ...] = ()  # zone ids whose siren sounds while the alarm is active


@dataclass(frozen=True, slots=True)
class ConditionUpdate:
    """Fusion's report that a condition is (or is no longer) present.

    ``condition`` is the dedupe key within the subject (e.g. ``"gas:H2S"``), so
    a low alarm that turns high escalates the same alarm instead of raising a
    second one. ``value``/``threshold``/``direction`` let the engine apply the
    configured deadband when the condition clears.
    """

    subject: Subject
    condition: str
    kind: AlarmKind
    active: bool
    priority: Priority
    message: str
    ts: float
    value: float | None = None
    threshold: float | None = None
    direction: str | None = None  # "high" | "low": which side of threshold is bad
    notify: Notify = Notify()
    zone: str | None = None
    actor: Actor | None = None  # a person behind the report (a wearable's cancel press, a zone action)
    model: Mapping[str, str] | None = None  # name, version, sha256 of the model whose detections report it

    @property
    def key(self) -> tuple[Subject, str]:
        return (self.subject, self.condition)


class AlarmState(str, enum.Enum):
    """ISA-18.2 alarm states (the 'normal' state means the alarm record is closed)."""

    NORMAL = "normal"
    UNACK = "active_unacknowledged"
    ACKED = "active_acknowledged"
    RTN_UNACK = "returned_unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


class Verdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"


@dataclass(slots=True)
class Alarm:
    """One alarm record, from first activation until it returns to normal."""

    alarm_id: str
    subject: Subject
    condition: str
    kind: AlarmKind
    priority: Priority
    state: AlarmState
    message: str
    raised_ts: float
    updated_ts: float
    latching: bool = False
    condition_active: bool = True
    value: float | None = None
    threshold: float | None = None
    zone: str | None = None
    notify: Notify = Notify()
    acked_by: str | None = None
    acked_via: Channel | None = None
    acked_ts: float | None = None
    verdict: Verdict | None = None
    shelved_by: str | None = None
    shelved_via: Channel | None = None
    shelved_until: float | None = None
    shelve_reason: str | None = None
    flood_group: str | None = None
    model: Mapping[str, str] | None = None  # the detector that raised it (camera alarms)
    risk_score: float | None = None
    risk_model: Mapping[str, str] | None = None  # the risk model that scored it
    muted_until: float | None = None
    last_announced_ts: float | None = None

    @property
    def key(self) -> tuple[Subject, str]:
        return (self.subject, self.condition)

    def record(self) -> AlarmRecord:
        """The one alarm record (the wire contract's): retained on ``alarms/{alarm_id}``, stored, served, synced."""
        return AlarmRecord(**{
            "alarm_id": self.alarm_id,
            "subject": str(self.subject),
            "condition": self.condition,
            "kind": self.kind.value,
            "priority": self.priority.name.lower(),
            "state": self.state.value,
            "message": self.message,
            "raised_ts": self.raised_ts,
            "updated_ts": self.updated_ts,
            "latching": self.latching,
            "condition_active": self.condition_active,
            "value": self.value,
            "threshold": self.threshold,
            "zone": self.zone,
            "workers": list(self.notify.workers),
            "sirens": list(self.notify.sirens),
            "acked_by": self.acked_by,
            "acked_via": self.acked_via.value if self.acked_via else None,
            "acked_ts": self.acked_ts,
            "verdict": self.verdict.value if self.verdict else None,
            "shelved_by": self.shelved_by,
            "shelved_via": self.shelved_via.value if self.shelved_via else None,
            "shelved_until": self.shelved_until,
            "shelve_reason": self.shelve_reason,
            "flood_group": self.flood_group,
            "model": dict(self.model) if self.model else None,
            "risk_score": self.risk_score,
            "risk_model": dict(self.risk_model) if self.risk_model else None,
        })


class TransitionCause(str, enum.Enum):
    RAISED = "raised"
    ESCALATED = "escalated"
    CLEARED = "cleared"  # condition went away (may still need ack)
    ACKNOWLEDGED = "acknowledged"
    VERDICT = "verdict"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    RE_ALARMED = "re_alarmed"
    MUTED = "muted"
    RESTORED = "restored"  # re-announced after a daemon restart
    SCORED = "scored"  # the risk model's score attached (never changes state or priority)
    CLOSED = "closed"  # back to normal


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """Every change to an alarm, with who, through which channel, and when; stored and published.

    ``by`` is the actor's identity (None for the daemon itself, whose channel
    is SYSTEM); the engine always sets ``channel``, None means unknown (a row
    stored before channels were).
    """

    alarm: Alarm
    cause: TransitionCause
    from_state: AlarmState
    to_state: AlarmState
    ts: float
    by: str | None = None
    note: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class PreAlarm:
    """A man-down/fall/check-in warning on the worker's own wearable before the
    alarm goes to supervisors; cancelled by movement or a cancel press."""

    worker: str
    wearable: str | None
    kind: AlarmKind
    deadline_ts: float
    ts: float
    cancelled: bool = False

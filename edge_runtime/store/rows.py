"""Contract objects to table rows and back: the one place that knows the columns.

Readings are stored compactly as ``(device, kind, ts, v1, v2, v3, extra)``:
the numbers a query or a plot needs go into ``v1..v3``, everything else into
a small JSON object that leaves out fields at their default. Per kind:

============== ============== ============== ========= ==============================
kind           v1             v2             v3        extra (only when not default)
============== ============== ============== ========= ==============================
gps            lat            lon            hdop      talker, sentence, fix_valid, ...
gas:<GAS>      value          full_range               unit, over_range, fault
hr             bpm            energy_kj                contact, rr_s
motion         ax             ay             az
panic          pressed (1/0)
check_in
battery        percent
detector       last_bump_ts   last_cal_ts
============== ============== ============== ========= ==============================

An unknown reading type is still stored (kind = class name, all fields in
``extra``) so a new codec never loses data before this table learns it.
``Observation.extra`` lands under the ``"extra"`` key of the JSON.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cloud_sync.contract.records import AlarmRecord
from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Channel,
    Notify,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
    Verdict,
)
from firmware_bridge.readings import (
    Battery,
    CheckIn,
    Contact,
    DetectorStatus,
    GasSample,
    GpsFix,
    HeartRate,
    Motion,
    Observation,
    PanicButton,
)

from .statements import Row

# The last element is the rest of the fields, as a dict or as JSON already encoded.
Encoded = tuple[str, float | None, float | None, float | None, dict[str, object] | str]

READING_SQL = "INSERT INTO readings (device, kind, ts, v1, v2, v3, extra) VALUES (?, ?, ?, ?, ?, ?, ?)"
EXPOSURE_SQL = "INSERT OR REPLACE INTO exposure_minutes (worker, gas, minute_ts, value) VALUES (?, ?, ?, ?)"
FUSION_STATE_SQL = "INSERT OR REPLACE INTO fusion_state (id, saved_ts, state) VALUES (1, ?, ?)"
TRANSITION_SQL = (
    'INSERT INTO transitions (alarm_id, ts, cause, from_state, to_state, "by", note, extra, channel)'
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
VERDICT_SQL = (
    'INSERT INTO verdicts (alarm_id, verdict, "by", note, ts, kind, subject, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
)
SNAPSHOT_SQL = (
    "INSERT INTO snapshots (stem, camera, ts, reason, path, bytes, detections, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# The alarm record's fields, then what only a restore needs.
RESTORE_COLUMNS = ("muted_until", "last_announced_ts")
ALARM_COLUMNS = (*AlarmRecord.model_fields, *RESTORE_COLUMNS)
# A replaced row gets a fresh AUTOINCREMENT id, so the outbox uploads the new state.
ALARM_SQL = (
    f"INSERT OR REPLACE INTO alarms ({', '.join(ALARM_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(ALARM_COLUMNS))})"
)
_JSON_LIST_COLUMNS = ("workers", "sirens")
_JSON_OPTIONAL_COLUMNS = ("model", "risk_model")  # model lineage objects, NULL when no model was involved
_BOOL_COLUMNS = ("latching", "condition_active")


# One encoder instance: json.dumps(..., separators=...) builds a new one per call (3x slower).
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


def to_json(value: object) -> str:
    """Compact JSON; anything exotic (enums, paths) is written as its string."""
    return _JSON.encode(value)


# --- readings ---------------------------------------------------------------

_GPS_OPTIONAL = ("fix_quality", "fix_type", "alt", "time", "speed_mps", "course_deg", "satellites")


def _gps(r: GpsFix) -> Encoded:
    rest: dict[str, object] = {"talker": r.talker, "sentence": r.sentence, "fix_valid": r.fix_valid}
    for name in _GPS_OPTIONAL:
        value = getattr(r, name)
        if value is not None:
            rest[name] = value
    return "gps", r.lat, r.lon, r.hdop, rest


@lru_cache(maxsize=256)
def _gas_extra(unit: str, over_range: bool, fault: str | None) -> str:
    # Gas is the bulk of the readings and its extra rarely changes: encode each variant once.
    rest: dict[str, object] = {"unit": unit}
    if over_range:
        rest["over_range"] = True
    if fault is not None:
        rest["fault"] = fault
    return to_json(rest)


def _gas(r: GasSample) -> Encoded:
    return "gas:" + r.gas.value, r.value, r.full_range, None, _gas_extra(r.unit, r.over_range, r.fault)


def _hr(r: HeartRate) -> Encoded:
    rest: dict[str, object] = {}
    if r.contact is not Contact.UNSUPPORTED:
        rest["contact"] = r.contact.value
    if r.rr_s:
        rest["rr_s"] = r.rr_s
    return "hr", r.bpm, r.energy_kj, None, rest


def _motion(r: Motion) -> Encoded:
    return "motion", r.ax, r.ay, r.az, {}


def _panic(r: PanicButton) -> Encoded:
    return "panic", float(r.pressed), None, None, {}


def _check_in(r: CheckIn) -> Encoded:
    return "check_in", None, None, None, {}


def _battery(r: Battery) -> Encoded:
    return "battery", r.percent, None, None, {}


def _detector(r: DetectorStatus) -> Encoded:
    return "detector", r.last_bump_ts, r.last_calibration_ts, None, {}


def _unknown(r: Any) -> Encoded:
    fields: dict[str, object] = (
        dataclasses.asdict(r) if dataclasses.is_dataclass(r) and not isinstance(r, type) else {"repr": repr(r)}
    )
    return type(r).__name__.lower(), None, None, None, fields


_ENCODERS: dict[type, Callable[[Any], Encoded]] = {
    GpsFix: _gps,
    GasSample: _gas,
    HeartRate: _hr,
    Motion: _motion,
    PanicButton: _panic,
    CheckIn: _check_in,
    Battery: _battery,
    DetectorStatus: _detector,
}


def reading_row(obs: Observation) -> Row:
    """The ``readings`` row for one observation (parameters of :data:`READING_SQL`)."""
    kind, v1, v2, v3, rest = _ENCODERS.get(type(obs.reading), _unknown)(obs.reading)
    if obs.extra:
        rest = {**(json.loads(rest) if isinstance(rest, str) else rest), "extra": obs.extra}
    extra = rest if isinstance(rest, str) else to_json(rest) if rest else None
    return (obs.device, kind, obs.ts, v1, v2, v3, extra)


# --- alarms -----------------------------------------------------------------


def alarm_row(alarm: Alarm) -> Row:
    """Parameters of :data:`ALARM_SQL`: the published record plus restore-only fields."""
    record = alarm.record().model_dump()
    record["muted_until"] = alarm.muted_until
    record["last_announced_ts"] = alarm.last_announced_ts
    for name in _JSON_LIST_COLUMNS:
        record[name] = to_json(record[name])
    for name in _JSON_OPTIONAL_COLUMNS:
        record[name] = None if record[name] is None else to_json(record[name])
    return tuple(record[name] for name in ALARM_COLUMNS)


def alarm_record(row: Mapping[str, Any]) -> dict[str, object]:
    """A stored alarm row in the shape of ``AlarmRecord`` (plus ``id`` and restore fields)."""
    record = dict(row)
    for name in _JSON_LIST_COLUMNS:
        record[name] = json.loads(record[name])
    for name in _JSON_OPTIONAL_COLUMNS:
        record[name] = None if record[name] is None else json.loads(record[name])
    for name in _BOOL_COLUMNS:
        record[name] = bool(record[name])
    return record


def stored_record(record: Mapping[str, Any]) -> AlarmRecord:
    """The :class:`AlarmRecord` of an :func:`alarm_record` (its restore-only fields and ``id`` left out)."""
    return AlarmRecord.model_validate({name: record[name] for name in AlarmRecord.model_fields})


def alarm_from_row(row: Mapping[str, Any]) -> Alarm:
    """Rebuild the full :class:`Alarm` the engine had, for restore after a restart."""
    subject_kind, _, subject_id = row["subject"].partition(":")
    return Alarm(
        alarm_id=row["alarm_id"],
        subject=Subject(SubjectKind(subject_kind), subject_id),
        condition=row["condition"],
        kind=AlarmKind(row["kind"]),
        priority=Priority[row["priority"].upper()],
        state=AlarmState(row["state"]),
        message=row["message"],
        raised_ts=row["raised_ts"],
        updated_ts=row["updated_ts"],
        latching=bool(row["latching"]),
        condition_active=bool(row["condition_active"]),
        value=row["value"],
        threshold=row["threshold"],
        zone=row["zone"],
        notify=Notify(workers=tuple(json.loads(row["workers"])), sirens=tuple(json.loads(row["sirens"]))),
        acked_by=row["acked_by"],
        acked_via=_channel(row["acked_via"]),
        acked_ts=row["acked_ts"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        shelved_by=row["shelved_by"],
        shelved_via=_channel(row["shelved_via"]),
        shelved_until=row["shelved_until"],
        shelve_reason=row["shelve_reason"],
        flood_group=row["flood_group"],
        model=json.loads(row["model"]) if row["model"] else None,
        risk_score=row["risk_score"],
        risk_model=json.loads(row["risk_model"]) if row["risk_model"] else None,
        muted_until=row["muted_until"],
        last_announced_ts=row["last_announced_ts"],
    )


def _channel(value: str | None) -> Channel | None:
    """A stored channel; NULL on rows from before 0004_provenance (unknown)."""
    return Channel(value) if value else None


def transition_row(t: AlarmTransition) -> Row:
    """Parameters of :data:`TRANSITION_SQL`."""
    return (
        t.alarm.alarm_id,
        t.ts,
        t.cause.value,
        t.from_state.value,
        t.to_state.value,
        t.by,
        t.note,
        to_json(t.extra) if t.extra else None,
        t.channel.value if t.channel else None,
    )


def verdict_row(t: AlarmTransition) -> Row | None:
    """Parameters of :data:`VERDICT_SQL` for a VERDICT transition, else ``None``.

    The verdict comes from the alarm (the engine sets it before publishing);
    ``extra["verdict"]`` is accepted as a fallback so a label is never lost.
    One row per revision, with who and through which channel (``labels.py``
    reads the current one).
    """
    if t.cause is not TransitionCause.VERDICT:
        return None
    verdict = t.alarm.verdict.value if t.alarm.verdict else t.extra.get("verdict")
    if verdict is None:
        return None
    alarm = t.alarm
    channel = t.channel.value if t.channel else None
    return (alarm.alarm_id, Verdict(verdict).value, t.by, t.note, t.ts, alarm.kind.value, str(alarm.subject), channel)


def snapshot_row(stem: str, camera: str, ts: float, reason: str, path: str, size: int,
                 detections: list[dict[str, Any]], model: dict[str, Any] | None) -> Row:
    """Parameters of :data:`SNAPSHOT_SQL`: a saved JPEG (``size`` bytes at ``path``) and what the model saw."""
    return (stem, camera, ts, reason, path, size, to_json(detections), to_json(model) if model else None)

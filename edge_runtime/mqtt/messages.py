"""MQTT payloads of the site contract: builders for what we publish, parsers for
what wearables and operators send us.

Pure functions of bytes and values (no I/O), so they can be fuzzed. Builders
never raise on odd values (a NaN reading must not cost an alarm its alert);
parsers raise :class:`MessageError` and :class:`InboundRouter` turns that
into a counter, so bad input from the field never reaches the event loop.
"""

from __future__ import annotations

import binascii
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_runtime.alarms.model import Alarm, PreAlarm, Verdict
from edge_runtime.logs import LogThrottle
from firmware_bridge.codecs.hrm import decode_hrm
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Battery, CheckIn, HeartRate, Motion, Observation, PanicButton, Reading
from web_common.json_limits import too_deep

from .topics import Topics

log = logging.getLogger(__name__)

MAX_ACCEL_SAMPLES = 1024  # bounds the work one message can cause on the alarm loop
MAX_TEXT = 1000
# a 0x2A37 measurement is one attribute value, at most 512 bytes (Bluetooth Core, ATT): 1,024 hex digits
MAX_HRM_HEX = 1024
# a press in a message too broken to parse is still a press: safety errs towards the alarm
_EVENT_FLAG = re.compile(rb'"(panic|cancel|checkin)"\s*:\s*true\b')


class MessageError(ValueError):
    """A payload is not valid JSON or breaks the contract."""


class TelemetryError(MessageError):
    """Some telemetry fields were bad; ``observations`` holds the readings that were not.

    A garbled heart-rate field must not cost the panic press sent beside it.
    """

    def __init__(self, problems: list[str], observations: list[Observation]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.observations = observations


# --- outgoing -------------------------------------------------------------------


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(document: Mapping[str, Any]) -> bytes:
    """Compact JSON; non-finite floats become null because NaN is not JSON."""
    try:
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(dict(document)), separators=(",", ":")).encode()


def alert_payload(alarm: Alarm, ts: float) -> bytes:
    """The worker alert ``{"alarm_id","kind","priority","state","message","ts"}``."""
    return dumps(
        {
            "alarm_id": alarm.alarm_id,
            "kind": alarm.kind.value,
            "priority": alarm.priority.name.lower(),
            "state": alarm.state.value,
            "message": alarm.message,
            "ts": ts,
        }
    )


PRE_ALARM = "pre_alarm"
PRE_ALARM_CANCELLED = "pre_alarm_cancelled"


def pre_alarm_payload(pre: PreAlarm) -> bytes:
    """A pre-alarm on the worker's own alert topic; no alarm exists yet, so no id.

    ``deadline_ts`` (beyond the base contract) lets the wearable show its countdown.
    """
    state = PRE_ALARM_CANCELLED if pre.cancelled else PRE_ALARM
    verb = "cancelled" if pre.cancelled else "cancel before deadline"
    return dumps(
        {
            "alarm_id": None,
            "kind": pre.kind.value,
            "priority": None,
            "state": state,
            "message": f"{pre.kind.value} pre-alarm {verb}",
            "ts": pre.ts,
            "deadline_ts": pre.deadline_ts,
        }
    )


def siren_payload(on: bool, pattern: str, alarm_id: str | None) -> bytes:
    """The retained siren command ``{"state":"on|off","pattern","alarm_id"}``."""
    return dumps({"state": "on" if on else "off", "pattern": pattern, "alarm_id": alarm_id})


def record_payload(alarm: Alarm) -> bytes:
    """The full alarm record, retained on ``alarms/{alarm_id}``."""
    return alarm.record().model_dump_json().encode()


def status_payload(online: bool, version: str | None = None, started_ts: float | None = None) -> bytes:
    """The daemon status; the offline form is also the last will."""
    if not online:
        return dumps({"state": "offline"})
    return dumps({"state": "online", "version": version, "started_ts": started_ts})


# --- incoming -------------------------------------------------------------------


def _load_object(payload: bytes) -> dict[str, Any]:
    if too_deep(payload):
        raise MessageError("JSON nested too deep")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise MessageError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise MessageError(f"expected a JSON object, got {type(document).__name__}")
    return document


def _optional_text(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MessageError(f"{key!r} must be a string of at most {MAX_TEXT} characters")
    return value


@dataclass(frozen=True, slots=True)
class AckCommand:
    """A console's acknowledgement of one alarm, with an optional verdict.

    Who made it is the broker account in the topic, never a field of the payload.
    """

    note: str | None = None
    verdict: Verdict | None = None


def parse_ack(payload: bytes) -> AckCommand:
    """Parse ``{"note","verdict":"confirmed|false_alarm|null"}`` (a ``"by"`` is ignored: the topic says who)."""
    document = _load_object(payload)
    note = _optional_text(document, "note")
    raw_verdict = document.get("verdict")
    try:
        verdict = None if raw_verdict is None else Verdict(raw_verdict)
    except ValueError:
        allowed = ", ".join(v.value for v in Verdict)
        raise MessageError(f"'verdict' must be one of {allowed} or null, got {raw_verdict!r}") from None
    return AckCommand(note=note, verdict=verdict)


def _number(value: Any, key: str, low: float, high: float) -> float:
    # bool is an int in Python but never a measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MessageError(f"{key!r} must be a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer
        number = math.inf
    if not (math.isfinite(number) and low <= number <= high):
        raise MessageError(f"{key!r}={_short(value)} outside [{low}, {high}]")
    return number


def _short(value: Any) -> str:
    """A bad value for a log line, cut (a 1 MB field must not become a 1 MB log line)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise MessageError(f"{key!r} must be true or false, got {_short(value)}")
    return value


def _hr_raw(value: Any) -> list[Reading]:
    if not isinstance(value, str):
        raise MessageError(f"'hr_raw' must be a hex string, got {_short(value)}")
    if len(value) > MAX_HRM_HEX:
        raise MessageError(f"'hr_raw' of {len(value)} hex digits exceeds one 0x2A37 attribute ({MAX_HRM_HEX})")
    try:
        data = binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError):
        raise MessageError(f"'hr_raw' is not hex: {value[:40]!r}") from None
    try:
        return [decode_hrm(data)]
    except CodecError as exc:
        raise MessageError(f"'hr_raw' not a valid 0x2A37 measurement: {exc}") from None


def _hr(value: Any) -> list[Reading]:
    return [HeartRate(bpm=round(_number(value, "hr", 0, 300)))]


def _sample(value: Any) -> Motion:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise MessageError(f"'accel' sample must be [x, y, z], got {_short(value)}")
    ax, ay, az = (_number(v, "accel", -64.0, 64.0) for v in value)
    return Motion(ax, ay, az)


def _accel(value: Any) -> list[Reading]:
    if not isinstance(value, list) or not value:
        raise MessageError(f"'accel' must be [x, y, z] or a list of them, got {_short(value)}")
    if not isinstance(value[0], list):
        return [_sample(value)]
    if len(value) > MAX_ACCEL_SAMPLES:
        raise MessageError(f"'accel' batch of {len(value)} samples exceeds {MAX_ACCEL_SAMPLES}")
    return [_sample(sample) for sample in value]


def _panic(value: Any) -> list[Reading]:
    # "panic" is the button's state in every message: only a press is an event
    return [PanicButton(pressed=True)] if _flag(value, "panic") else []


def _cancel(value: Any) -> list[Reading]:
    # the wearable's cancel press: withdraws a pre-alarm (and a panic pressed by mistake)
    return [PanicButton(pressed=False)] if _flag(value, "cancel") else []


def _battery(value: Any) -> list[Reading]:
    return [Battery(percent=_number(value, "battery", 0, 100))]


def _checkin(value: Any) -> list[Reading]:
    return [CheckIn()] if _flag(value, "checkin") else []


# One row per telemetry field: a new reading type is one line here.
_FIELDS: tuple[tuple[str, Callable[[Any], list[Reading]]], ...] = (
    ("panic", _panic),  # events first: the most urgent readings reach fusion first
    ("cancel", _cancel),
    ("checkin", _checkin),
    ("hr_raw", _hr_raw),
    ("accel", _accel),
    ("battery", _battery),
)


def parse_telemetry(wearable: str, payload: bytes, ts: float) -> list[Observation]:
    """Readings of one wearable telemetry message received at wall-clock ``ts``.

    Event fields (panic, cancel, check-in) are read first and each field on
    its own: a bad field is reported and dropped, never the press beside it,
    and a press in a payload too broken to parse at all is still found.
    ``"hr"`` is used only when ``"hr_raw"`` is absent or bad. The device's own
    ``"ts"`` goes into ``extra["device_ts"]``; batch samples carry
    ``extra["sample"]``/``extra["samples"]`` so fusion can space them. Raises
    :class:`MessageError` for a payload that is not a JSON object and
    :class:`TelemetryError` (with the good readings) when some fields are bad.
    """
    try:
        document = _load_object(payload)
    except MessageError as exc:
        presses = _salvaged_presses(payload)
        if not presses:
            raise
        observations = [Observation(device=wearable, reading=r, ts=ts, extra={}) for r in presses]
        raise TelemetryError([str(exc)], observations) from None
    problems: list[str] = []
    base: dict[str, object] = {}
    readings: list[tuple[str, list[Reading]]] = []
    for key, parse in _FIELDS:
        if key in document:
            try:
                readings.append((key, parse(document[key])))
            except MessageError as exc:
                problems.append(str(exc))
    if "hr" in document and not any(key == "hr_raw" for key, _ in readings):
        try:
            readings.append(("hr", _hr(document["hr"])))
        except MessageError as exc:
            problems.append(str(exc))
    if "ts" in document:
        try:
            base["device_ts"] = _number(document["ts"], "ts", 0, math.inf)
        except MessageError as exc:
            problems.append(str(exc))

    observations: list[Observation] = []
    for key, batch in readings:
        for index, reading in enumerate(batch):
            extra = dict(base)
            if key == "accel" and len(batch) > 1:
                extra.update(sample=index, samples=len(batch))
            observations.append(Observation(device=wearable, reading=reading, ts=ts, extra=extra))
    if problems:
        raise TelemetryError(problems, observations)
    return observations


def _salvaged_presses(payload: bytes) -> list[Reading]:
    """The presses spelled out in a payload that is not valid JSON (or too deep, or too long a number),
    read by the fields' own parsers, in their order."""
    pressed = {m.group(1).decode() for m in _EVENT_FLAG.finditer(payload)}
    return [reading for key, parse in _FIELDS if key in pressed for reading in parse(True)]


def may_hold_press(payload: bytes) -> bool:
    """A cheap look for ``"panic": true`` and the like, so such messages are handled first."""
    return _EVENT_FLAG.search(payload) is not None


@dataclass(slots=True)
class InboundCounters:
    telemetry_messages: int = 0
    telemetry_rejected: int = 0  # messages with at least one bad field
    acks: int = 0
    acks_rejected: int = 0
    ignored: int = 0  # empty payloads (retained-message clears) and foreign topics


class InboundRouter:
    """The link's ``on_message``: routes acks and telemetry to their handlers.

    Telemetry arrives as one list per message (the readings of one wearable at
    one time); a route whose handler is None is counted as ignored: the alarm
    process takes acks only, the telemetry ingest process telemetry only.

    Bad input is logged, counted and dropped here, so nothing a device or an
    operator sends can raise into the event loop; salvageable readings of a
    partly bad telemetry message are still delivered.
    """

    def __init__(
        self,
        topics: Topics,
        on_telemetry: Callable[[list[Observation]], None] | None,
        on_ack: Callable[[str, str, AckCommand], None] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._topics = topics
        self._on_telemetry = on_telemetry
        self._on_ack = on_ack
        self._clock = clock
        self.counters = InboundCounters()
        self._rejected_log = LogThrottle()  # a misconfigured wearable fleet must not flood the log

    def __call__(self, topic: str, payload: bytes) -> None:
        if not payload:
            self.counters.ignored += 1
            return
        if self._on_telemetry is not None and (wearable := self._topics.parse_telemetry_topic(topic)) is not None:
            self.telemetry(wearable, payload)
            return
        if self._on_ack is not None and (ack := self._topics.parse_ack_topic(topic)) is not None:
            self._ack(self._on_ack, *ack, payload)
            return
        self.counters.ignored += 1

    def telemetry(self, wearable: str, payload: bytes) -> None:
        """One telemetry message of ``wearable`` (its topic already parsed): parse, count, deliver."""
        assert self._on_telemetry is not None
        self.counters.telemetry_messages += 1
        try:
            observations = parse_telemetry(wearable, payload, self._clock())
        except TelemetryError as exc:
            self._rejected(wearable, "partly rejected", exc)
            observations = exc.observations
        except MessageError as exc:
            self._rejected(wearable, "rejected", exc)
            return
        except Exception as exc:  # noqa: BLE001 - a parser bug must cost one message, never the ingest
            self._rejected(wearable, "broke the parser and was rejected", MessageError(_short(exc)))
            return
        if observations:
            self._on_telemetry(observations)

    def _rejected(self, wearable: str, what: str, exc: MessageError) -> None:
        self.counters.telemetry_rejected += 1
        if self._rejected_log.ready():
            log.warning("telemetry from %s %s: %s (%d rejected so far)", wearable, what, exc,
                        self.counters.telemetry_rejected)

    def _ack(self, handler: Callable[[str, str, AckCommand], None], alarm_id: str, account: str,
             payload: bytes) -> None:
        try:
            command = parse_ack(payload)
        except Exception as exc:  # noqa: BLE001 - MessageError, or a parser bug: one ack lost, never the loop
            self.counters.acks_rejected += 1
            if self._rejected_log.ready():
                log.warning("ack for alarm %s rejected: %s", alarm_id, str(exc)[:200])
            return
        self.counters.acks += 1
        handler(alarm_id, account, command)

"""Payload builders and the parsers of what the field sends us (good and bad input)."""

from __future__ import annotations

import json
import math

import pytest

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    Notify,
    PreAlarm,
    Priority,
    Subject,
    SubjectKind,
    Verdict,
)
from edge_runtime.mqtt.messages import (
    AckCommand,
    InboundRouter,
    MessageError,
    TelemetryError,
    alert_payload,
    parse_ack,
    parse_telemetry,
    pre_alarm_payload,
    record_payload,
    siren_payload,
    status_payload,
)
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.readings import Battery, CheckIn, Contact, HeartRate, Motion, Observation, PanicButton


def make_alarm(**changes: object) -> Alarm:
    fields: dict[str, object] = dict(
        alarm_id="a-1",
        subject=Subject(SubjectKind.WORKER, "w1"),
        condition="gas:H2S",
        kind=AlarmKind.GAS_HIGH,
        priority=Priority.HIGH,
        state=AlarmState.UNACK,
        message="H2S 15 ppm over 10 ppm",
        raised_ts=100.0,
        updated_ts=100.0,
        notify=Notify(workers=("w1", "w2"), sirens=("z1",)),
    )
    fields.update(changes)
    return Alarm(**fields)  # type: ignore[arg-type]


# --- builders -------------------------------------------------------------------------


def test_alert_payload_has_exactly_the_contract_fields() -> None:
    doc = json.loads(alert_payload(make_alarm(), 123.5))
    assert doc == {
        "alarm_id": "a-1",
        "kind": "gas_high",
        "priority": "high",
        "state": "active_unacknowledged",
        "message": "H2S 15 ppm over 10 ppm",
        "ts": 123.5,
    }


def test_pre_alarm_payload_states() -> None:
    pre = PreAlarm(worker="w1", wearable="wb-1", kind=AlarmKind.NO_MOTION, deadline_ts=130.0, ts=100.0)
    doc = json.loads(pre_alarm_payload(pre))
    assert doc["state"] == "pre_alarm" and doc["alarm_id"] is None and doc["deadline_ts"] == 130.0
    cancelled = PreAlarm(
        worker="w1", wearable="wb-1", kind=AlarmKind.NO_MOTION, deadline_ts=130.0, ts=101.0, cancelled=True
    )
    assert json.loads(pre_alarm_payload(cancelled))["state"] == "pre_alarm_cancelled"


def test_siren_and_status_payloads() -> None:
    assert json.loads(siren_payload(True, "fast", "a-1")) == {"state": "on", "pattern": "fast", "alarm_id": "a-1"}
    assert json.loads(siren_payload(False, "none", None))["state"] == "off"
    assert json.loads(status_payload(False)) == {"state": "offline"}
    assert json.loads(status_payload(True, "1.2.3", 5.0)) == {"state": "online", "version": "1.2.3", "started_ts": 5.0}


def test_builders_turn_nan_into_null_instead_of_failing() -> None:
    alarm = make_alarm(value=math.nan, threshold=math.inf)
    record = json.loads(record_payload(alarm))  # strict JSON: NaN would not parse elsewhere
    assert record["value"] is None and record["threshold"] is None
    assert record == {**alarm.record().model_dump(), "value": None, "threshold": None}
    assert json.loads(alert_payload(alarm, math.nan))["ts"] is None


# --- acks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{}", AckCommand()),
        (b'{"by":"sup-1"}', AckCommand()),  # who acknowledged is the account in the topic, never the payload
        (b'{"note":"checked","verdict":"confirmed"}', AckCommand("checked", Verdict.CONFIRMED)),
        (b'{"by":7,"note":null,"verdict":"false_alarm"}', AckCommand(None, Verdict.FALSE_ALARM)),
        (b'{"verdict":null,"unknown":1}', AckCommand()),
    ],
)
def test_parse_ack_good(payload: bytes, expected: AckCommand) -> None:
    assert parse_ack(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"sup"',
        b'{"by":"s","note":5}',
        b'{"by":"s","verdict":"maybe"}',
        b'{"by":"s","verdict":true}',
    ],
)
def test_parse_ack_bad(payload: bytes) -> None:
    with pytest.raises(MessageError):
        parse_ack(payload)


# --- telemetry ------------------------------------------------------------------------


def readings(observations: list[Observation]) -> list[object]:
    return [o.reading for o in observations]


def test_parse_telemetry_all_fields() -> None:
    payload = json.dumps(
        {"hr_raw": "1648", "accel": [0.1, -0.2, 0.98], "panic": True, "battery": 54, "checkin": True, "ts": 99.5}
    ).encode()
    observations = parse_telemetry("wb-1", payload, 100.0)
    assert readings(observations) == [
        PanicButton(True),  # events first
        CheckIn(),
        HeartRate(bpm=72, contact=Contact.DETECTED),  # 0x16: contact detected, RR present (none)
        Motion(0.1, -0.2, 0.98),
        Battery(54.0),
    ]
    assert all(o.device == "wb-1" and o.ts == 100.0 and o.extra["device_ts"] == 99.5 for o in observations)


def test_parse_telemetry_hr_bpm_and_accel_batch() -> None:
    payload = json.dumps({"hr": 81, "accel": [[0, 0, 1], [0, 0, 0.2], [0.5, 2.9, 1.1]], "checkin": False}).encode()
    observations = parse_telemetry("wb-1", payload, 1.0)
    assert readings(observations) == [Motion(0, 0, 1), Motion(0, 0, 0.2), Motion(0.5, 2.9, 1.1), HeartRate(bpm=81)]
    assert [o.extra.get("sample") for o in observations[:3]] == [0, 1, 2]
    assert observations[0].extra["samples"] == 3


def test_hr_raw_wins_over_hr() -> None:
    observations = parse_telemetry("wb-1", b'{"hr_raw":"0048","hr":120}', 1.0)
    assert readings(observations) == [HeartRate(bpm=72)]


@pytest.mark.parametrize("payload", [b"", b"{", b"[1,2]", b"null", b"\x00\x01", b'"x"'])
def test_parse_telemetry_not_an_object(payload: bytes) -> None:
    with pytest.raises(MessageError) as info:
        parse_telemetry("wb-1", payload, 1.0)
    assert not isinstance(info.value, TelemetryError)


@pytest.mark.parametrize(
    "field",
    [
        {"hr_raw": "zz"},
        {"hr_raw": "01"},  # flags say uint16, value truncated
        {"hr_raw": 72},
        {"hr": "72"},
        {"hr": -1},
        {"hr": True},
        {"accel": [1, 2]},
        {"accel": [1, 2, "x"]},
        {"accel": []},
        {"accel": [[0, 0, 1], [0, 1]]},
        {"accel": [[0, 0, 1e9]]},
        {"accel": [[0, 0, 1]] * 5000},
        {"panic": 1},
        {"battery": 120},
        {"battery": None},
        {"checkin": "yes"},
        {"ts": "yesterday"},
    ],
)
def test_bad_field_keeps_the_good_readings(field: dict[str, object]) -> None:
    payload = json.dumps({"panic": True, **field} if "panic" not in field else {"battery": 50, **field}).encode()
    with pytest.raises(TelemetryError) as info:
        parse_telemetry("wb-1", payload, 1.0)
    good = readings(info.value.observations)
    assert good in ([PanicButton(True)], [Battery(50.0)])
    assert info.value.problems


def test_unknown_fields_are_ignored() -> None:
    assert parse_telemetry("wb-1", b'{"temp_c":36.6}', 1.0) == []


# --- router ---------------------------------------------------------------------------


def test_inbound_router_routes_counts_and_never_raises() -> None:
    topics = Topics("s")
    seen: list[Observation] = []
    acks: list[tuple[str, str, AckCommand]] = []
    router = InboundRouter(topics, seen.extend, lambda alarm_id, account, ack: acks.append((alarm_id, account, ack)),
                           clock=lambda: 7.0)

    router(topics.wearable_telemetry("wb-1"), b'{"panic":true}')
    router(topics.wearable_telemetry("wb-1"), b'{"panic":true,"hr":"x"}')  # partly bad
    router(topics.wearable_telemetry("wb-1"), b"garbage")
    router(topics.alarm_ack("a-1", "sup"), b'{"by":"someone else"}')  # "by" is ignored: the topic says who
    router(topics.alarm_ack("a-1", "sup"), b'{"verdict":"maybe"}')
    router(topics.alarm_ack("a-1", "sup"), b"")  # a retained-message clear
    router("siteguard/s/elsewhere", b"{}")

    assert [o.reading for o in seen] == [PanicButton(True), PanicButton(True)]
    assert seen[0].ts == 7.0
    assert acks == [("a-1", "sup", AckCommand())]
    c = router.counters
    assert (c.telemetry_messages, c.telemetry_rejected, c.acks, c.acks_rejected, c.ignored) == (3, 2, 1, 1, 2)


# --- issue 9: an event is never lost because of another field ---------------------------


@pytest.mark.parametrize("sibling", [
    b'"battery": 1' + b"0" * 400,  # OverflowError in float() before
    b'"hr": 1' + b"0" * 400,
    b'"ts": 1' + b"0" * 400,
    b'"accel": [1' + b"0" * 400 + b', 0, 1]',
    b'"hr": 1' + b"0" * 5000,  # past Python's 4,300-digit int limit: the JSON itself is refused
    b'"x": ' + b"[" * 50_000 + b"]" * 50_000,  # RecursionError before
])
def test_a_panic_survives_any_bad_sibling_field(sibling: bytes) -> None:
    payload = b'{"panic": true, ' + sibling + b"}"
    with pytest.raises(TelemetryError) as caught:
        parse_telemetry("wb-1", payload, 1.0)
    assert readings(caught.value.observations)[0] == PanicButton(True)
    assert len(str(caught.value)) < 400  # a huge field never becomes a huge log line


def test_hr_raw_is_bounded_by_one_0x2a37_attribute() -> None:
    payload = json.dumps({"hr_raw": "16" + "ff" * 600, "battery": 50}).encode()
    with pytest.raises(TelemetryError, match="exceeds one 0x2A37 attribute") as caught:
        parse_telemetry("wb-1", payload, 1.0)
    assert readings(caught.value.observations) == [Battery(50.0)]


def test_deeply_nested_json_is_refused_before_parsing() -> None:
    deep = b'{"by": "s", "note": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(MessageError, match="nested too deep"):
        parse_ack(deep)
    with pytest.raises(MessageError, match="nested too deep"):
        parse_telemetry("wb-1", b'{"hr": 70, "x": ' + b"{\"a\":" * 40 + b"1" + b"}" * 40 + b"}", 1.0)
    # brackets inside strings are text, not nesting
    assert readings(parse_telemetry("wb-1", json.dumps({"hr": 70, "note": "[" * 100}).encode(), 1.0)) == [
        HeartRate(bpm=70)]

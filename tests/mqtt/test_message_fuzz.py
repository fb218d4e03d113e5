"""Fuzzing the telemetry and ack JSON paths: never an exception out of the handler, never a press lost.

``SITEGUARD_FUZZ_FRAMES`` (default 100,000) payloads per property, from a
seeded ``random.Random`` so a failure is reproducible: random documents with a
press beside random sibling fields (huge and non-finite numbers, deep nesting,
long strings, wrong types), and byte-level mutations of valid messages.
"""
from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from edge_runtime.mqtt.messages import AckCommand, InboundRouter, MessageError, TelemetryError, parse_telemetry
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.readings import CheckIn, Observation, PanicButton, Reading

N = int(os.environ.get("SITEGUARD_FUZZ_FRAMES", "100000"))
SEED = 20261202
TOPICS = Topics("fuzz")
FIELDS = ["hr", "hr_raw", "accel", "battery", "ts", "note", "x"]
PRESSES: dict[str, Reading] = {"panic": PanicButton(True), "cancel": PanicButton(False), "checkin": CheckIn()}


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice([10**rng.randint(19, 4000), -(10**400), 1e308, float("inf"), float("nan")])
    if kind == 1:
        return rng.uniform(-1e6, 1e6)
    if kind == 2:
        return rng.randint(-300, 300)
    if kind == 3:
        return "".join(rng.choice("0123456789abcdefZ\"\\ \u00e9") for _ in range(rng.randint(0, 3000)))
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        nest: Any = 0
        for _ in range(rng.randint(1, 60)):
            nest = [nest]
        return nest
    if kind == 6 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if kind == 7 and depth < 3:
        return {rng.choice(FIELDS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == 8:
        return [rng.uniform(-70, 70) for _ in range(3)]
    if kind == 9:
        return [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(rng.randint(1, 1100))]
    if kind == 10:
        return "16" + "ff" * rng.randint(0, 700)
    return rng.uniform(0, 100)


def _readings(wearable: str, payload: bytes) -> list[Observation]:
    try:
        return parse_telemetry(wearable, payload, 1.0)
    except TelemetryError as exc:
        return exc.observations
    except MessageError:
        return []


def test_a_press_is_never_lost_because_of_another_field() -> None:
    rng = random.Random(SEED)
    for i in range(N // 10):  # documents are large: a tenth of N keeps this within seconds
        press = rng.choice(list(PRESSES))
        document = {rng.choice(FIELDS): _value(rng) for _ in range(rng.randint(1, 4))}
        document[press] = True
        keys = list(document)
        rng.shuffle(keys)
        payload = json.dumps({k: document[k] for k in keys}).encode()
        got = [o.reading for o in _readings("wb", payload)]
        assert PRESSES[press] in got, (i, payload[:300])


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op, at = rng.randrange(4), rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del out[at:at + rng.randint(1, 8)]
        elif op == 2:
            out[at:at] = bytes(rng.choice(b'{}[]":,0123456789eE.-+tfn\\') for _ in range(rng.randint(1, 8)))
        else:
            out[at:at] = rng.choice([b"[" * 5000, b"9" * 5000, b"\xff\xfe", b"\x00", b'"panic":true'])
    return bytes(out)


VALID = [
    b'{"hr_raw":"1648","accel":[0.1,-0.2,0.98],"battery":54,"ts":99.5}',
    b'{"panic":true,"hr":71}',
    b'{"accel":[[0,0,1],[0,0.1,1]],"checkin":true}',
    b'{"by":"sup","verdict":"confirmed","note":"ok"}',
    b'{"cancel":true}',
]


@pytest.mark.parametrize("route", ["telemetry", "ack"])
def test_nothing_a_device_or_operator_sends_raises_out_of_the_router(route: str) -> None:
    rng = random.Random(SEED + len(route))
    delivered: list[object] = []
    acks: list[AckCommand] = []
    router = InboundRouter(TOPICS, delivered.append, lambda _a, _who, c: acks.append(c))
    topic = TOPICS.wearable_telemetry("wb") if route == "telemetry" else TOPICS.alarm_ack("a-1", "console")
    for _ in range(N):
        if rng.random() < 0.5:
            payload = _mutate(rng, rng.choice(VALID))
        else:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 60)))
        router(topic, payload)  # must not raise
    counters = router.counters
    if route == "telemetry":
        assert counters.telemetry_messages + counters.ignored == N
    else:
        assert counters.acks + counters.acks_rejected + counters.ignored == N

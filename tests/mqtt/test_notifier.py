"""MqttNotifier through a real link and broker: alerts, siren reference counts, records."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Notify,
    PreAlarm,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
)
from edge_runtime.mqtt.link import MqttLink
from edge_runtime.mqtt.topics import Topics
from edge_runtime.notifiers.mqtt_notifier import MqttNotifier
from tests.broker import Mosquitto, Received, Subscriber

from .conftest import LinkFactory
from .support import eventually

Cause = TransitionCause
State = AlarmState


def alarm(alarm_id: str, **changes: object) -> Alarm:
    fields: dict[str, object] = dict(
        alarm_id=alarm_id,
        subject=Subject(SubjectKind.ZONE, "z1"),
        condition="gas:H2S",
        kind=AlarmKind.ZONE_GAS,
        priority=Priority.HIGH,
        state=State.UNACK,
        message=f"{alarm_id}: H2S over set point",
        raised_ts=100.0,
        updated_ts=100.0,
        zone="z1",
        notify=Notify(workers=("w1", "w2"), sirens=("z1",)),
    )
    fields.update(changes)
    return Alarm(**fields)  # type: ignore[arg-type]


def move(a: Alarm, cause: TransitionCause, to: AlarmState, ts: float, **changes: object) -> AlarmTransition:
    """Mutate the alarm as the engine does and describe the change."""
    before = a.state
    a.state = to
    a.updated_ts = ts
    for name, value in changes.items():
        setattr(a, name, value)
    return AlarmTransition(alarm=a, cause=cause, from_state=before, to_state=to, ts=ts)


def raised(a: Alarm) -> AlarmTransition:
    return AlarmTransition(alarm=a, cause=Cause.RAISED, from_state=State.NORMAL, to_state=a.state, ts=a.raised_ts)


@dataclass(frozen=True)
class Rig:
    link: MqttLink
    notifier: MqttNotifier
    sub: Subscriber  # everything under the site prefix


@pytest.fixture
async def rig(mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics) -> AsyncIterator[Rig]:
    link = await make_link()
    with Subscriber(mosquitto.host, mosquitto.port, [f"{topics.prefix}/#"]) as sub:
        yield Rig(link, MqttNotifier(link, topics), sub)


def docs(messages: list[Received]) -> list[Any]:
    return [json.loads(m.payload) if m.payload else None for m in messages]


async def settle(link: MqttLink, sub: Subscriber, count: int) -> list[Received]:
    await eventually(lambda: link.pending == 0, what="all acknowledged")
    return await sub.wait_count_async(lambda m: True, count)


async def test_alerts_go_to_subject_and_notified_workers(rig: Rig, topics: Topics) -> None:
    link, notifier, sub = rig.link, rig.notifier, rig.sub
    a = alarm("a-1", subject=Subject(SubjectKind.WORKER, "w9"), notify=Notify(workers=("w1", "w9"), sirens=()))
    notifier.on_transition(raised(a))
    await settle(link, sub, 4)  # 3 alerts + record (+ online status is older)
    alerts = [m for m in sub.messages if m.topic.endswith("/alert")]
    assert [m.topic for m in alerts] == [topics.worker_alert("w9"), topics.worker_alert("w1")]
    assert all(m.qos == 1 for m in alerts)
    assert docs(alerts)[0] == {
        "alarm_id": "a-1",
        "kind": "zone_gas",
        "priority": "high",
        "state": "active_unacknowledged",
        "message": "a-1: H2S over set point",
        "ts": 100.0,
    }

    sub.clear()
    notifier.on_transition(move(a, Cause.VERDICT, State.UNACK, 101.0))  # no state change, no alert cause
    notifier.on_transition(move(a, Cause.ACKNOWLEDGED, State.ACKED, 102.0, acked_by="sup"))
    await settle(link, sub, 4)  # 2 records + 2 alerts
    alerts = [m for m in sub.messages if m.topic.endswith("/alert")]
    assert [d["state"] for d in docs(alerts)] == ["active_acknowledged"] * 2


async def test_pre_alarm_and_cancel_reach_the_worker(rig: Rig, topics: Topics) -> None:
    notifier, sub = rig.notifier, rig.sub
    notifier.on_pre_alarm(PreAlarm(worker="w1", wearable="wb-1", kind=AlarmKind.NO_MOTION, deadline_ts=130.0, ts=100.0))
    notifier.on_pre_alarm(
        PreAlarm(worker="w1", wearable="wb-1", kind=AlarmKind.NO_MOTION, deadline_ts=130.0, ts=104.0, cancelled=True)
    )
    got = await sub.wait_count_async(lambda m: m.topic == topics.worker_alert("w1"), 2)
    assert [d["state"] for d in docs(got)] == ["pre_alarm", "pre_alarm_cancelled"]


async def test_siren_reference_counting_across_two_alarms(rig: Rig, topics: Topics) -> None:
    link, notifier, sub = rig.link, rig.notifier, rig.sub
    siren = topics.siren_set("z1")
    a, b = alarm("a-1"), alarm("a-2", raised_ts=105.0, priority=Priority.CRITICAL)

    notifier.on_transition(raised(a))  # on
    notifier.on_transition(raised(b))  # still on, same pattern: nothing new
    notifier.on_transition(move(a, Cause.CLEARED, State.RTN_UNACK, 110.0, condition_active=False))
    notifier.on_transition(move(a, Cause.ACKNOWLEDGED, State.NORMAL, 111.0))  # a gone, b holds it
    notifier.on_transition(move(b, Cause.MUTED, State.UNACK, 112.0, muted_until=200.0))  # off
    notifier.on_transition(move(b, Cause.RE_ALARMED, State.UNACK, 201.0))  # mute over: on again
    notifier.on_transition(move(b, Cause.SHELVED, State.SHELVED, 202.0))  # off
    notifier.on_transition(move(b, Cause.UNSHELVED, State.UNACK, 203.0))  # on
    notifier.on_transition(move(b, Cause.CLEARED, State.RTN_UNACK, 204.0))  # still on until acked
    notifier.on_transition(move(b, Cause.CLOSED, State.NORMAL, 205.0))  # off

    await eventually(lambda: link.pending == 0, what="all acknowledged")
    got = await sub.wait_count_async(lambda m: m.topic == siren, 6)
    await asyncio.sleep(0.1)
    assert docs(sub.on(siren)) == [
        {"state": "on", "pattern": "fast", "alarm_id": "a-1"},
        {"state": "off", "pattern": "none", "alarm_id": "a-2"},
        {"state": "on", "pattern": "fast", "alarm_id": "a-2"},
        {"state": "off", "pattern": "none", "alarm_id": "a-2"},
        {"state": "on", "pattern": "fast", "alarm_id": "a-2"},
        {"state": "off", "pattern": "none", "alarm_id": "a-2"},
    ]
    assert len(got) == 6


async def test_siren_pattern_follows_the_most_urgent_alarm(rig: Rig, topics: Topics) -> None:
    notifier, sub = rig.notifier, rig.sub
    siren = topics.siren_set("z1")
    warn = alarm("a-1", priority=Priority.MEDIUM)
    evac = alarm("a-2", kind=AlarmKind.ZONE_EVACUATE, priority=Priority.CRITICAL, notify=Notify(sirens=("z1", "z2")))
    notifier.on_transition(raised(warn))
    notifier.on_transition(raised(evac))
    notifier.on_transition(move(evac, Cause.CLOSED, State.NORMAL, 150.0))
    got = await sub.wait_count_async(lambda m: m.topic == siren, 3)
    assert [(d["state"], d["pattern"]) for d in docs(got)] == [("on", "slow"), ("on", "evacuate"), ("on", "slow")]
    z2 = await sub.wait_count_async(lambda m: m.topic == topics.siren_set("z2"), 2)
    assert [d["state"] for d in docs(z2)] == ["on", "off"]


async def test_known_zones_start_off_and_restored_alarms_win(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics
) -> None:
    """After a restart: every siren is commanded, restored alarms first, then the link connects."""
    link = await make_link(connected=False)
    link_not_yet_up = not link.connected.is_set()
    notifier = MqttNotifier(link, topics, siren_zones=["z1", "z2"])
    a = alarm("a-1")
    notifier.on_transition(AlarmTransition(a, Cause.RESTORED, State.UNACK, State.UNACK, ts=300.0))
    await asyncio.wait_for(link.connected.wait(), 5)
    for _ in range(200):  # the broker has acknowledged the replay: the sirens are retained there
        if link.pending == 0:
            break
        await asyncio.sleep(0.01)
    with Subscriber(mosquitto.host, mosquitto.port, [f"{topics.prefix}/sirens/+/set"]) as sub:
        got = await sub.wait_count_async(lambda m: True, 2)
        await asyncio.sleep(0.2)
        final = {m.topic: json.loads(m.payload)["state"] for m in sub.messages}
    assert link_not_yet_up and all(m.retain for m in got)
    assert final == {topics.siren_set("z1"): "on", topics.siren_set("z2"): "off"}
    assert len(sub.messages) == 2  # the "off" seeded for z1 never went out


async def test_record_retained_while_open_then_cleared(rig: Rig, mosquitto: Mosquitto, topics: Topics) -> None:
    link, notifier, sub = rig.link, rig.notifier, rig.sub
    a = alarm("a-1")
    record = topics.alarm("a-1")
    notifier.on_transition(raised(a))
    notifier.on_transition(move(a, Cause.ACKNOWLEDGED, State.ACKED, 101.0, acked_by="sup", acked_ts=101.0))
    await eventually(lambda: link.pending == 0, what="acknowledged")
    with Subscriber(mosquitto.host, mosquitto.port, [record]) as late:
        kept = await late.wait_for_async(lambda m: m.topic == record)
    assert kept.retain and json.loads(kept.payload) == a.record().model_dump()
    assert json.loads(kept.payload)["acked_by"] == "sup"

    notifier.on_transition(move(a, Cause.CLOSED, State.NORMAL, 102.0))
    await sub.wait_for_async(lambda m: m.topic == record and m.payload == b"")
    with Subscriber(mosquitto.host, mosquitto.port, [record]) as later:
        await asyncio.sleep(0.3)
        assert later.on(record) == []


def _transitions(n: int) -> Iterator[AlarmTransition]:
    for i in range(n):
        a = alarm(
            f"lat-{i}",
            subject=Subject(SubjectKind.WORKER, "w0"),
            notify=Notify(workers=("w1", "w2"), sirens=(f"z{i % 4}",)),
        )
        yield raised(a)
        yield move(replace(a), Cause.CLOSED, State.NORMAL, 101.0)


@pytest.mark.parametrize("online", [True, False], ids=["connected", "broker-down"])
@pytest.mark.parametrize("spacing_s", [0.001, 0.0], ids=["spaced", "burst"])
async def test_on_transition_latency(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics, online: bool, spacing_s: float
) -> None:
    """Alerts are handed over inside the caller's tick; print the cost per transition.

    "spaced" is the field case (paho's thread idle when an alarm comes); "burst"
    keeps paho's thread busy with PUBACKs, so the GIL hand-over shows in p99.
    """
    link = await make_link()
    if not online:
        mosquitto.stop()
        await eventually(lambda: not link.connected.is_set(), what="loss detected")
    notifier = MqttNotifier(link, topics)
    samples = []
    for t in _transitions(500):
        start = time.perf_counter_ns()
        notifier.on_transition(t)
        samples.append((time.perf_counter_ns() - start) / 1000)
        await asyncio.sleep(spacing_s)  # let PUBACKs in, as a real loop would
    samples.sort()
    p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99)]
    print(
        f"on_transition ({'connected' if online else 'broker down'}, {'spaced' if spacing_s else 'burst'}): "
        f"p50={p50:.1f}us p99={p99:.1f}us mean={statistics.fmean(samples):.1f}us over {len(samples)}"
    )
    assert p50 < 500, "an alert must not cost the alarm loop more than a fraction of a millisecond"

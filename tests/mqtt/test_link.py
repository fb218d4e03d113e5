"""MqttLink against a real Mosquitto: delivery, reconnects, outages, wills."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.config.devices import MqttSettings
from edge_runtime.mqtt.link import ConnectionState, MqttLink
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.backoff import Backoff
from tests.broker import Mosquitto, Received, Subscriber, find_mosquitto

from .conftest import SITE, LinkFactory
from .support import eventually

OUTAGE_S = float(os.environ.get("SITEGUARD_OUTAGE_S", "3"))
REPO = Path(__file__).resolve().parents[2]


def on(topic: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == topic


async def test_connects_and_announces_online_retained(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    link = await make_link()
    assert link.state is ConnectionState.CONNECTED
    # the status goes out right after CONNACK: once the broker has acknowledged it, it is retained
    await eventually(lambda: link.pending == 0, what="the online status acknowledged")
    with Subscriber(mosquitto.host, mosquitto.port, [link.status_topic]) as sub:
        status = await sub.wait_for_async(on(link.status_topic))
    doc = json.loads(status.payload)
    assert status.retain and doc["state"] == "online" and doc["version"] == "test"
    assert isinstance(doc["started_ts"], float)


async def test_publish_qos1_and_receive_on_the_event_loop(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics
) -> None:
    received: list[tuple[str, bytes, int]] = []
    link = await make_link(on_message=lambda t, p: received.append((t, p, threading.get_ident())))
    link.subscribe(topics.ACK_FILTER)
    with Subscriber(mosquitto.host, mosquitto.port, [topics.worker_alert("w1")]) as sub:
        await asyncio.sleep(0.1)  # SUBACK of the link's subscription
        link.publish(topics.worker_alert("w1"), b'{"n":1}', qos=1)
        got = await sub.wait_for_async(on(topics.worker_alert("w1")))
        assert got.payload == b'{"n":1}' and got.qos == 1
        await eventually(lambda: link.counters.published >= 1, what="PUBACK counted")

        await asyncio.to_thread(sub.publish, topics.alarm_ack("a-1", "sup"), b"{}")
        await eventually(lambda: bool(received), what="ack delivered")
    assert received == [(topics.alarm_ack("a-1", "sup"), b"{}", threading.get_ident())]


async def test_handler_errors_are_counted_not_fatal(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    def broken(topic: str, payload: bytes) -> None:
        raise RuntimeError("consumer bug")

    link = await make_link(on_message=broken)
    link.subscribe("siteguard/test-site/#")
    await asyncio.sleep(0.1)
    with Subscriber(mosquitto.host, mosquitto.port, ["unused/x"]) as sub:
        await asyncio.to_thread(sub.publish, "siteguard/test-site/x", b"1")
        await asyncio.to_thread(sub.publish, "siteguard/test-site/x", b"2")
    await eventually(lambda: link.counters.handler_errors >= 2, what="errors counted")
    assert link.state is ConnectionState.CONNECTED


async def test_starts_without_broker_and_backs_off(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    mosquitto.stop()
    backoff = Backoff(initial=0.05, maximum=0.2, jitter=0)
    link = await make_link(connected=False, backoff=backoff)
    await eventually(lambda: link.counters.connect_failures >= 3, what="three failed attempts")
    assert link.state in (ConnectionState.BACKOFF, ConnectionState.CONNECTING)
    assert not link.connected.is_set()
    link.publish("siteguard/test-site/x", b"qos0")  # nowhere to go: dropped and counted
    assert link.counters.dropped == 1
    assert backoff.attempts >= 3
    await asyncio.to_thread(mosquitto.start)
    await asyncio.wait_for(link.connected.wait(), 5)
    assert backoff.attempts == 0  # reset only by the CONNACK


async def test_refused_connection_backs_off_and_keeps_messages(tmp_path: Path, topics: Topics) -> None:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto not installed")
    broker = Mosquitto(workdir=tmp_path, allow_anonymous=False)  # CONNACK "not authorized"
    broker.start()
    link = MqttLink(
        MqttSettings(host=broker.host, port=broker.port, keepalive_s=5), topics, "edge-1", backoff=Backoff(0.05, 0.1)
    )
    try:
        link.publish(topics.worker_alert("w1"), b"kept", qos=1)
        await link.start()
        await eventually(lambda: link.counters.connect_failures >= 2, what="two refusals")
        assert link.counters.connects == 0 and link.pending == 1 and not link.connected.is_set()
    finally:
        await asyncio.wait_for(link.stop(), 2)
        broker.stop()
    assert link.state is ConnectionState.STOPPED


async def test_stop_during_outage_is_prompt(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    link = await make_link()
    mosquitto.stop()
    await eventually(lambda: link.state is ConnectionState.BACKOFF, what="backing off")
    await asyncio.wait_for(link.stop(), 1)
    assert link.state is ConnectionState.STOPPED


async def test_graceful_stop_publishes_offline(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    link = await make_link()
    with Subscriber(mosquitto.host, mosquitto.port, [link.status_topic]) as sub:
        await link.stop()
        offline = await sub.wait_for_async(lambda m: m.payload == b'{"state":"offline"}')
    assert offline.topic == link.status_topic
    assert link.state is ConnectionState.STOPPED and not link.connected.is_set()
    with Subscriber(mosquitto.host, mosquitto.port, [link.status_topic]) as late:
        retained = await late.wait_for_async(on(link.status_topic))
    assert retained.retain and json.loads(retained.payload) == {"state": "offline"}


async def test_last_will_when_process_is_killed(mosquitto: Mosquitto) -> None:
    status = Topics(SITE).device_status("edge-child")
    with Subscriber(mosquitto.host, mosquitto.port, [status]) as sub:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.mqtt.link_child", mosquitto.host, str(mosquitto.port), SITE, "edge-child"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 15)  # type: ignore[union-attr]
            assert line.strip() == "connected"
            await sub.wait_for_async(lambda m: json.loads(m.payload)["state"] == "online")
            child.send_signal(signal.SIGKILL)
            await sub.wait_for_async(lambda m: json.loads(m.payload) == {"state": "offline"}, timeout=10)
        finally:
            child.kill()
            child.wait(timeout=5)
    with Subscriber(mosquitto.host, mosquitto.port, [status]) as late:  # the will is retained
        retained = await late.wait_for_async(on(status))
    assert retained.retain and json.loads(retained.payload) == {"state": "offline"}


def _alert(n: int) -> bytes:
    return json.dumps({"alarm_id": f"a-{n}", "n": n}).encode()


def _numbers(messages: list[Received]) -> list[int]:
    return [json.loads(m.payload)["n"] for m in messages]


async def test_qos1_alerts_survive_broker_outage_in_order(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics
) -> None:
    """Broker down for SITEGUARD_OUTAGE_S while alerts keep coming: all arrive, in order."""
    link = await make_link()
    alert = topics.worker_alert("w1")
    siren = topics.siren_set("z1")
    link.set_retained_state(siren, b'{"state":"on"}')
    sent = 0

    # A burst while the broker goes down: some are in flight on a dying socket.
    stopper = asyncio.create_task(asyncio.to_thread(mosquitto.stop))
    while not stopper.done() or sent < 50:
        link.publish(alert, _alert(sent), qos=1)
        sent += 1
        await asyncio.sleep(0.002)
    await eventually(lambda: link.state is not ConnectionState.CONNECTED, what="loss detected")

    # Alerts and siren flapping during the outage.
    outage_end = time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_end:
        link.publish(alert, _alert(sent), qos=1)
        sent += 1
        link.set_retained_state(siren, b'{"state":"off"}' if sent % 2 else b'{"state":"on"}')
        await asyncio.sleep(0.1)
    link.set_retained_state(siren, b'{"state":"on"}')
    assert link.pending >= sent - 60  # some of the first burst may have been acknowledged

    # Restart right after a failed attempt, so the subscriber is in before the link retries.
    failures = link.counters.connect_failures
    await eventually(lambda: link.counters.connect_failures > failures, timeout=5, what="a failed retry")
    await asyncio.to_thread(mosquitto.start)
    with Subscriber(mosquitto.host, mosquitto.port, [alert, siren]) as sub:
        await asyncio.wait_for(link.connected.wait(), 5)
        newest = _alert(sent - 1)
        await sub.wait_for_async(lambda m: m.payload == newest, timeout=10)
        state = await sub.wait_for_async(on(siren))
        await eventually(lambda: link.pending == 0, what="all acknowledged")
        replayed, sirens = sub.on(alert), sub.on(siren)

    numbers = _numbers(replayed)
    assert numbers == sorted(numbers), "replayed out of order"
    assert numbers == list(range(numbers[0], sent)), "gap or duplicate in the replay"
    assert sent - numbers[0] >= link.counters.queued  # everything queued offline, plus what was in flight
    assert link.counters.dropped == 0
    # The siren gets the latest state once, not a replay of the flapping.
    assert state.payload == b'{"state":"on"}'
    assert [m.payload for m in sirens] == [b'{"state":"on"}']


async def test_retained_state_and_subscriptions_reasserted_after_broker_restart(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics
) -> None:
    received: list[str] = []
    link = await make_link(on_message=lambda t, p: received.append(t))
    link.subscribe(topics.ACK_FILTER)
    siren = topics.siren_set("z1")
    link.set_retained_state(siren, b'{"state":"on","pattern":"fast","alarm_id":"a-1"}')
    record = topics.alarm("a-1")
    link.set_retained_state(record, b'{"alarm_id":"a-1"}')
    link.set_retained_state(record, b"")  # cleared: must not come back after the restart
    await eventually(lambda: link.pending == 0, what="acknowledged")

    mosquitto.stop()  # persistence is off: every retained message is gone
    await eventually(lambda: not link.connected.is_set(), what="loss detected")
    await asyncio.to_thread(mosquitto.start)
    await asyncio.wait_for(link.connected.wait(), 5)
    await eventually(lambda: link.pending == 0, what="re-asserted")

    with Subscriber(mosquitto.host, mosquitto.port, [siren, record, link.status_topic]) as late:
        got = await late.wait_for_async(on(siren))
        await late.wait_for_async(on(link.status_topic))
        await asyncio.sleep(0.2)
        assert late.on(record) == []
    assert got.retain and json.loads(got.payload)["state"] == "on"

    with Subscriber(mosquitto.host, mosquitto.port, ["unused/x"]) as operator:
        await asyncio.to_thread(operator.publish, topics.alarm_ack("a-1", "sup"), b"{}")
    await eventually(lambda: topics.alarm_ack("a-1", "sup") in received, what="resubscribed")
    assert link.counters.connects == 2


async def test_backlog_is_bounded_oldest_dropped(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    link = await make_link(max_pending=5)
    mosquitto.stop()
    await eventually(lambda: not link.connected.is_set(), what="loss detected")
    for n in range(8):
        link.publish("siteguard/test-site/workers/w1/alert", _alert(n), qos=1)
    assert (link.pending, link.counters.queued, link.counters.dropped) == (5, 8, 3)
    failures = link.counters.connect_failures
    await eventually(lambda: link.counters.connect_failures > failures, what="a failed retry")
    await asyncio.to_thread(mosquitto.start)
    with Subscriber(mosquitto.host, mosquitto.port, ["siteguard/test-site/workers/+/alert"]) as sub:
        got = await sub.wait_count_async(lambda m: True, 5)
    assert _numbers(got) == [3, 4, 5, 6, 7]


async def test_publish_never_blocks_the_loop(mosquitto: Mosquitto, make_link: LinkFactory) -> None:
    link = await make_link()
    mosquitto.stop()
    await eventually(lambda: not link.connected.is_set(), what="loss detected")
    start = time.perf_counter()
    for n in range(1000):
        link.publish("siteguard/test-site/workers/w1/alert", _alert(n), qos=1)
    per_call_us = (time.perf_counter() - start) / 1000 * 1e6
    assert per_call_us < 200, f"{per_call_us:.1f} us per publish while offline"


@pytest.mark.parametrize("bad", ["", "a/+/b", "a/#"])
async def test_rejects_wildcard_publish_topics(mosquitto: Mosquitto, make_link: LinkFactory, bad: str) -> None:
    link = await make_link()
    with pytest.raises(ValueError):
        link.publish(bad, b"x", qos=1)
    with pytest.raises(ValueError):
        link.publish("ok/topic", b"x", qos=2)


async def test_session_broker_fixture(mosquitto_session: Mosquitto, topics: Topics) -> None:
    """The cheap shared broker works for tests that never stop it."""
    topic = topics.worker_alert("session-check")
    with Subscriber(mosquitto_session.host, mosquitto_session.port, [topic]) as sub:
        await asyncio.to_thread(sub.publish, topic, b"ping")
        assert (await sub.wait_for_async(on(topic))).payload == b"ping"


async def test_a_forged_retained_siren_or_record_is_overwritten_with_the_true_state(
    mosquitto: Mosquitto, make_link: LinkFactory, topics: Topics
) -> None:
    link = await make_link()
    siren, record, gone = topics.siren_set("z1"), topics.alarm("a-1"), topics.alarm("a-0")
    truth = b'{"state":"on","pattern":"fast","alarm_id":"a-1"}'
    link.set_retained_state(siren, truth)
    link.set_retained_state(record, b'{"alarm_id":"a-1","state":"unack"}')
    link.set_retained_state(gone, b'{"alarm_id":"a-0"}')
    link.set_retained_state(gone, b"")  # closed: its record was deleted
    link.own_retained(topics.SIREN_FILTER)
    link.own_retained(topics.ALARM_RECORD_FILTER)
    await eventually(lambda: link.pending == 0, what="acknowledged")
    await asyncio.sleep(0.2)  # SUBACK
    with Subscriber(mosquitto.host, mosquitto.port, ["unused/x"]) as attacker:
        attacker.publish(siren, b'{"state":"off"}', retain=True)
        attacker.publish(record, b'{"alarm_id":"a-1","state":"normal"}', retain=True)
        attacker.publish(gone, b'{"alarm_id":"a-0","state":"unack"}', retain=True)
        attacker.publish(topics.siren_set("other-node-zone"), b'{"state":"off"}', retain=True)  # not ours
    await eventually(lambda: link.counters.reasserted == 3, what="three forgeries overwritten")
    await asyncio.sleep(0.3)
    with Subscriber(mosquitto.host, mosquitto.port, [siren, record, gone]) as late:
        got = await late.wait_for_async(on(siren))
        await late.wait_for_async(on(record))
        await asyncio.sleep(0.2)
        assert got.payload == truth
        assert json.loads(late.on(record)[-1].payload)["state"] == "unack"
        assert late.on(gone) == []  # deleted again
    assert link.counters.reasserted == 3  # our own echoes are not forgeries

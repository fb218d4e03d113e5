"""The lean telemetry subscriber: its packet splitter, and a real Mosquitto (with and without a password)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.broker_acl import AccountRole, BrokerAccount, write_broker_files
from edge_runtime.config.devices import MqttSettings
from edge_runtime.local_broker import LocalBroker
from edge_runtime.telemetry.subscriber import (
    PUBLISH,
    BulkSubscriber,
    Message,
    PacketReader,
    SubscriberCounters,
    _length,
    _string,
)
from tests.broker import Mosquitto, until

FILTER = "siteguard/s/wearables/+/telemetry"


def _publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 7) -> bytes:
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + _length(len(body)) + body


def test_remaining_length_encoding() -> None:
    assert [_length(n) for n in (0, 127, 128, 16_383, 16_384)] == [
        b"\x00", b"\x7f", b"\x80\x01", b"\xff\x7f", b"\x80\x80\x01"]


def test_packets_split_anywhere_come_out_whole_and_in_order() -> None:
    stream = b"".join(_publish(f"t/{i}", b"x" * (i * 37 % 300)) for i in range(40)) + b"\xd0\x00"  # + PINGRESP
    whole: list[Message] = []
    PacketReader(10_000, SubscriberCounters()).feed(stream, whole, [])
    assert [t for t, _ in whole] == [f"t/{i}".encode() for i in range(40)]
    for step in (1, 2, 3, 7, 64, 1000):
        reader, got, control = PacketReader(10_000, SubscriberCounters()), [], []
        for at in range(0, len(stream), step):
            reader.feed(stream[at:at + step], got, control)
        assert got == whole
        assert control == [(13, 0, b"")]


def test_an_oversized_packet_is_skipped_unread_and_counted() -> None:
    counters = SubscriberCounters()
    reader, got = PacketReader(1000, counters), []
    stream = _publish("a", b"1") + _publish("big", b"x" * 50_000) + _publish("b", b"2")
    for at in range(0, len(stream), 4096):
        reader.feed(stream[at:at + 4096], got, [])
    assert got == [(b"a", b"1"), (b"b", b"2")]
    assert counters.oversized == 1


def test_a_qos1_delivery_is_a_message_and_asks_for_its_ack() -> None:
    got: list[Message] = []
    control: list[tuple[int, int, bytes]] = []
    PacketReader(1000, SubscriberCounters()).feed(_publish("a", b"{}", qos=1, packet_id=258), got, control)
    assert got == [(b"a", b"{}")]
    assert control == [(PUBLISH, 1, b"\x01\x02")]


class _Collector:
    def __init__(self) -> None:
        self.batches: list[list[Message]] = []
        self.lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> None:
        with self.lock:
            self.batches.append(list(messages))

    def messages(self) -> list[Message]:
        with self.lock:
            return [m for b in self.batches for m in b]



class _Running:
    """A subscriber on its own thread, stopped (and joined) by the test's teardown."""

    def __init__(self, settings: MqttSettings, client_id: str = "ingest-test") -> None:
        self.sub = BulkSubscriber(settings, client_id, FILTER, max_packet=70_000)
        self.got = _Collector()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sub.run, args=(self.got, self.stopping), daemon=True)
        self.thread.start()

    def stop(self) -> float:
        t0 = time.monotonic()
        self.stopping.set()
        self.thread.join(5)
        assert not self.thread.is_alive()
        return time.monotonic() - t0


def _paho(port: int, username: str | None = None, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"wearables-{time.monotonic_ns()}")
    if username:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _send_until_received(client: mqtt.Client, running: _Running, topic: str, payload: bytes) -> None:
    """Subscribing is asynchronous: publish until the first message comes back."""
    deadline = time.monotonic() + 10
    while not running.got.messages() and time.monotonic() < deadline:
        client.publish(topic, payload)
        time.sleep(0.05)
    assert running.got.messages(), "the subscriber never received a message"


def test_receives_qos0_and_qos1_telemetry_from_a_real_broker_and_reconnects(mosquitto: Mosquitto) -> None:
    running = _Running(MqttSettings(port=mosquitto.port, keepalive_s=5))
    client = _paho(mosquitto.port)
    try:
        _send_until_received(client, running, "siteguard/s/wearables/w0/telemetry", b"{}")
        for i in range(300):
            client.publish(f"siteguard/s/wearables/w{i % 7}/telemetry", f'{{"n":{i}}}'.encode(), qos=i % 2)
        client.publish("siteguard/s/alarms/a1/ack", b"{}")  # not subscribed: never delivered
        until(lambda: sum(1 for _, p in running.got.messages() if p.startswith(b'{"n"')) == 300, "300 messages")
        numbered = [p for _, p in running.got.messages() if p.startswith(b'{"n"')]
        # each once (QoS 1 ones acknowledged), in order within a QoS (the broker may interleave the two)
        assert sorted(numbered) == sorted(f'{{"n":{i}}}'.encode() for i in range(300))
        qos0 = [p for p in numbered if int(p[5:-1]) % 2 == 0]
        assert qos0 == [f'{{"n":{i}}}'.encode() for i in range(0, 300, 2)]
        assert len(running.got.batches) < 301  # several messages per read
        assert running.sub.counters.connects == 1

        mosquitto.stop()
        mosquitto.start()
        client.loop_stop()
        client.disconnect()
        client = _paho(mosquitto.port)
        until(lambda: running.sub.counters.connects == 2, "the reconnect")
        client.publish("siteguard/s/wearables/w9/telemetry", b"after", qos=1)
        until(lambda: (b"siteguard/s/wearables/w9/telemetry", b"after") in running.got.messages(), "a message")
    finally:
        assert running.stop() < 1.5  # it polls for the stop every 0.25 s
        client.loop_stop()
        client.disconnect()


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[int]:
    """Mosquitto that admits only user ``ingest`` (password ``s3cret``), on site ``s``."""
    files = write_broker_files(tmp_path / "auth", "s", [BrokerAccount("ingest", AccountRole.DAEMON)],
                               {"ingest": "s3cret"})
    broker = LocalBroker(workdir=tmp_path, auth=files).start()
    try:
        yield broker.port
    finally:
        broker.stop()


def test_signs_in_to_a_broker_with_a_password(password_broker: int) -> None:
    running = _Running(MqttSettings(port=password_broker, username="ingest", password="s3cret"))
    client = _paho(password_broker, "ingest", "s3cret")
    try:
        _send_until_received(client, running, "siteguard/s/wearables/w1/telemetry", b'{"hr":70}')
        assert running.sub.counters.connects == 1
    finally:
        running.stop()
        client.loop_stop()
        client.disconnect()


def test_a_wrong_password_is_reported_and_retried_not_fatal(password_broker: int,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "edge_runtime.telemetry.subscriber")
    running = _Running(MqttSettings(port=password_broker, username="ingest", password="wrong"))
    try:
        until(lambda: "broker refused the connection" in caplog.text, "the refusal in the log")
        assert running.thread.is_alive() and running.sub.counters.connects == 0
    finally:
        running.stop()

"""The generated accounts and ACL on a real Mosquitto: identity in a topic is what the broker lets through."""
from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.broker_acl import AccountRole, BrokerAccount, acl_text, write_broker_files
from edge_runtime.demo import demo_accounts, demo_site_data
from edge_runtime.local_broker import LocalBroker
from edge_runtime.mqtt.topics import Topics
from tests.broker import until

SITE = "acl-site"
T = Topics(SITE)
ACCOUNTS = [
    BrokerAccount("edge", AccountRole.DAEMON),
    BrokerAccount("ctrl", AccountRole.SUPERVISOR),
    BrokerAccount("gate", AccountRole.OPERATOR),
    BrokerAccount("gw1", AccountRole.GATEWAY, wearables=(("wb1", "w1"), ("wb2", "w2"))),
    BrokerAccount("gw2", AccountRole.GATEWAY, wearables=(("wb3", "w3"),)),
    BrokerAccount("siren-z1", AccountRole.SIREN, zones=("z1",)),
]


class _Client:
    def __init__(self, port: int, name: str | None, password: str | None, topics: tuple[str, ...] = ()) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connack: list[int] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{time.monotonic_ns()}")
        if name is not None:
            self.client.username_pw_set(name, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._topics = topics
        self._ready = threading.Event()
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object = None) -> None:
        self.connack.append(int(reason.value))  # type: ignore[attr-defined]
        if not reason.is_failure and self._topics:  # type: ignore[attr-defined]
            client.subscribe([(t, 1) for t in self._topics])
        elif not self._topics:
            self._ready.set()

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((m.topic, bytes(m.payload)))

    def wait_ready(self) -> None:
        assert self._ready.wait(5), f"not connected/subscribed: {self.connack}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[LocalBroker, dict[str, str]]]:
    files = write_broker_files(tmp_path / "auth", SITE, ACCOUNTS)
    broker = LocalBroker(workdir=tmp_path, auth=files).start()
    try:
        yield broker, files.passwords
    finally:
        broker.stop()



def test_the_acl_names_each_account_and_nothing_anonymous() -> None:
    text = acl_text(SITE, ACCOUNTS)
    assert "topic write siteguard/acl-site/alarms/+/ack/ctrl" in text
    assert "topic write siteguard/acl-site/wearables/wb3/telemetry" in text.split("user gw2")[1]
    assert "pattern" not in text and "#" not in text.split("user edge")[1].split("user ctrl")[1]


def test_no_account_no_wrong_password(broker: tuple[LocalBroker, dict[str, str]]) -> None:
    b, passwords = broker
    anonymous = _Client(b.port, None, None)
    wrong = _Client(b.port, "ctrl", "guess")
    try:
        until(lambda: anonymous.connack and wrong.connack, "both CONNACKs")
        assert anonymous.connack[0] != 0 and wrong.connack[0] != 0
    finally:
        anonymous.close()
        wrong.close()
    assert "ctrl:" in (b.auth.passwd.read_text() if b.auth else "")
    assert passwords["ctrl"] not in (b.auth.passwd.read_text() if b.auth else "")  # only hashes on disk


def _forbidden(port: int, name: str, password: str, topic: str, payload: bytes, retain: bool = False) -> None:
    """Mosquitto drops the message and disconnects the client that tried it."""
    c = _Client(port, name, password)
    try:
        c.wait_ready()
        c.client.publish(topic, payload, qos=0, retain=retain)
        until(lambda: not c.client.is_connected(), f"{name} disconnected for publishing on {topic}")
    finally:
        c.close()


def test_each_account_can_say_only_what_it_is(broker: tuple[LocalBroker, dict[str, str]]) -> None:
    b, pw = broker
    daemon = _Client(b.port, "edge", pw["edge"], (f"{T.prefix}/#",))
    gw1 = _Client(b.port, "gw1", pw["gw1"], (T.worker_alert("w1"), T.worker_alert("w2"), T.worker_alert("w3")))
    ctrl = _Client(b.port, "ctrl", pw["ctrl"])
    siren = _Client(b.port, "siren-z1", pw["siren-z1"], (T.siren_set("z1"),))
    clients = [daemon, gw1, ctrl, siren]
    try:
        for c in clients:
            c.wait_ready()
        _forbidden(b.port, "gw1", pw["gw1"], T.wearable_telemetry("wb3"), b'{"cancel": true}')  # gw2's wearable
        _forbidden(b.port, "ctrl", pw["ctrl"], T.alarm_ack("a-1", "gate"), b'{"verdict": "false_alarm"}')
        _forbidden(b.port, "gate", pw["gate"], f"{T.prefix}/alarms/a-1/ack", b'{"by": "supervisor"}')  # the old anonymous topic
        _forbidden(b.port, "siren-z1", pw["siren-z1"], T.siren_set("z1"), b'{"state": "off"}', retain=True)
        _forbidden(b.port, "gate", pw["gate"], T.alarm("a-1"), b'{"state": "normal"}', retain=True)
        gw1.publish(T.wearable_telemetry("wb1"), b'{"hr": 70}')
        ctrl.publish(T.alarm_ack("a-1", "ctrl"), b'{"verdict": "confirmed"}')
        until(lambda: len(daemon.received()) >= 2, "the allowed messages")
        time.sleep(0.3)
        assert daemon.received() == [(T.wearable_telemetry("wb1"), b'{"hr": 70}'),
                                     (T.alarm_ack("a-1", "ctrl"), b'{"verdict": "confirmed"}')]
        assert siren.received() == []  # no forged command, and none retained for the next subscriber

        daemon.publish(T.worker_alert("w2"), b"w2")
        daemon.publish(T.worker_alert("w3"), b"w3")  # not a worker of gw1's wearables
        daemon.publish(T.siren_set("z1"), b'{"state": "on"}', retain=True)
        until(lambda: siren.received(), "the siren command")
        time.sleep(0.3)
        assert gw1.received() == [(T.worker_alert("w2"), b"w2")]
        assert siren.received() == [(T.siren_set("z1"), b'{"state": "on"}')]
    finally:
        for c in clients:
            c.close()


def test_broker_files_cli_writes_the_site_accounts(tmp_path: Path) -> None:
    data = demo_site_data()
    data["mqtt"] = {"username": "edge", "accounts": demo_accounts(data)}
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    out = tmp_path / "broker"
    done = subprocess.run([sys.executable, "-m", "edge_runtime", "broker-files", "--config", str(site), "--out",
                           str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    acl = (out / "acl").read_text()
    assert "user edge\ntopic readwrite siteguard/demo-site/#" in acl
    assert "user control-room\ntopic write siteguard/demo-site/alarms/+/ack/control-room" in acl
    worn = [w["wearable"] for w in data["workers"] if w.get("wearable")]
    assert all(f"topic write siteguard/demo-site/wearables/{w}/telemetry" in acl for w in worn)
    handout = out / "passwords.txt"
    assert stat.S_IMODE(handout.stat().st_mode) == 0o600
    assert {line.split(":")[0] for line in handout.read_text().splitlines()} == {
        "edge", "control-room", "gatehouse", "wearable-gateway", "sirens"}

    data["mqtt"]["accounts"].append({"name": "edge", "role": "operator"})
    site.write_text(yaml.safe_dump(data))
    refused = subprocess.run([sys.executable, "-m", "edge_runtime", "broker-files", "--config", str(site), "--out",
                              str(out)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "mqtt.accounts.4.name" in refused.stderr

"""The broker exactly as k3s/ deploys it, started for real: the rendered mosquitto.conf, password file and
ACL, laid out where the pod mounts them (under a temporary root) and run by the mosquitto binary with the
container's own arguments, on a free loopback port. Then the ACL is proven with the site's generated
credentials, and the real daemon runs end to end on its own."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.local_broker import free_port, mosquitto_binary, port_open
from edge_runtime.mqtt.topics import Topics
from tests.broker import until
from tests.k3s.conftest import Cluster
from tests.k3s.manifests import Rendered, container, data_of, pod_spec
from tests.mqtt.support import eventually
from tests.mqtt.test_broker_acl import _Client
from tests.processes import stop_process

WEARABLE, OTHER_WEARABLE = "wearable-wb-01", "wb-02"  # the first worker's wearable account, the second's wearable
WORKER, OTHER_WORKER = "w01", "w02"
CONSOLE = "control-room"


@dataclass(frozen=True)
class Broker:
    port: int
    passwords: dict[str, str]
    topics: Topics
    daemon_account: str


def _lay_out(r: Rendered, root: Path) -> dict[str, Path]:
    """Each volume the mosquitto container mounts, written under ``root``: mount path -> its directory here."""
    deployment = r.one("Deployment", "mosquitto")
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    where = {}
    for mount in container(deployment, "mosquitto")["volumeMounts"]:
        directory = root / mount["mountPath"].strip("/")
        directory.mkdir(parents=True)
        volume = volumes[mount["name"]]
        if source := volume.get("configMap") or volume.get("secret"):
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            name = source.get("name") or source["secretName"]
            for key, text in data_of(r.by_real_name(kind, name)).items():
                fd = os.open(directory / key, os.O_WRONLY | os.O_CREAT, 0o600)  # as a 0440 secret: never world-readable
                with os.fdopen(fd, "w") as f:
                    f.write(text)
        where[mount["mountPath"]] = directory
    return where


def _local(path: str, where: dict[str, Path]) -> str:
    for mount, directory in sorted(where.items(), key=lambda m: -len(m[0])):
        if path.startswith(mount):
            return str(directory) + path[len(mount):]
    raise AssertionError(f"{path} is in no volume the broker mounts")


def _local_conf(text: str, where: dict[str, Path], port: int) -> str:
    """The rendered config with the pod's paths mapped here and the listener on loopback; nothing else changed."""
    lines = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "listener":
            line = f"listener {port} 127.0.0.1"
        elif key in ("password_file", "acl_file", "persistence_location"):
            line = f"{key} {_local(value, where)}"
        lines.append(line)
    # as root mosquitto drops to its own user, which cannot read a private temporary directory (as LocalBroker)
    return "\n".join(lines) + ("\nuser root\n" if os.geteuid() == 0 else "\n")


@pytest.fixture(scope="module")
def broker(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    r = cluster.overlays["rpi"]
    root = tmp_path_factory.mktemp("pod")
    where = _lay_out(r, root)
    args = container(r.one("Deployment", "mosquitto"), "mosquitto")["args"]
    assert args[1] == "-c"
    conf = Path(_local(args[2], where))
    port = free_port()
    conf.write_text(_local_conf(conf.read_text(), where, port))
    site = yaml.safe_load(data_of(r.one("Secret", "siteguard-site"))["site.yaml"])
    with (root / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        until(lambda: port_open("127.0.0.1", port) or process.poll() is not None, "the broker listening")
        assert process.poll() is None, (root / "mosquitto.log").read_text()
        passwords = dict(line.split(": ", 1) for line in (cluster.site_dir / "passwords.txt").read_text().splitlines())
        yield Broker(port, passwords, Topics(site["site"]["id"]), site["mqtt"]["username"])
    finally:
        stop_process(process)


def test_nobody_connects_without_an_account(broker: Broker) -> None:
    attempts = ((None, None), (WEARABLE, "guess"), ("nobody", broker.passwords[WEARABLE]))
    refused = [_Client(broker.port, name, password) for name, password in attempts]
    try:
        until(lambda: all(c.connack for c in refused), "a CONNACK for each")
        assert all(c.connack[0] != 0 for c in refused)  # anonymous, a wrong password, an unknown name
    finally:
        for c in refused:
            c.close()


def test_a_wearable_reads_only_its_workers_alerts_and_says_only_its_own_telemetry(broker: Broker) -> None:
    """Each forbidden message is followed, on the same connection, by one the wearable may send: once that one
    reaches the daemon's subscription, everything sent before it has been delivered or dropped (MQTT keeps a
    connection's order), so the check needs no sleep."""
    t, pw = broker.topics, broker.passwords
    daemon = _Client(broker.port, broker.daemon_account, pw[broker.daemon_account], (f"{t.prefix}/#",))
    wearable = _Client(broker.port, WEARABLE, pw[WEARABLE], (t.worker_alert(WORKER), t.worker_alert(OTHER_WORKER)))
    try:
        daemon.wait_ready()
        wearable.wait_ready()
        daemon.publish(t.worker_alert(OTHER_WORKER), b"not yours")
        daemon.publish(t.worker_alert(WORKER), b"yours")
        until(lambda: wearable.received(), "the wearable's own alert")
        assert wearable.received() == [(t.worker_alert(WORKER), b"yours")]

        forbidden = [(t.wearable_telemetry(OTHER_WEARABLE), b'{"panic": true}', False),  # as another wearable
                     (t.alarm_ack("a-1", CONSOLE), b'{"verdict": "false_alarm"}', False),  # as the console
                     (t.alarm_ack("a-1", WEARABLE), b'{"note": "seen"}', False),  # acknowledging at all
                     (t.alarm("a-1"), b'{"state": "normal"}', True),  # overwriting an alarm record
                     (t.siren_set("yard"), b'{"state": "off"}', True)]  # silencing a siren
        for n, (topic, payload, retain) in enumerate(forbidden):
            wearable.publish(topic, payload, retain=retain)
            sentinel = f'{{"hr": {60 + n}}}'.encode()
            wearable.publish(t.wearable_telemetry("wb-01"), sentinel)
            until(lambda: (t.wearable_telemetry("wb-01"), sentinel) in daemon.received(), "the allowed message")
        got = {topic for topic, _ in daemon.received()}
        assert got == {t.worker_alert(OTHER_WORKER), t.worker_alert(WORKER), t.wearable_telemetry("wb-01")}
    finally:
        daemon.close()
        wearable.close()
    late = _Client(broker.port, broker.daemon_account, pw[broker.daemon_account], (f"{t.prefix}/#",))
    try:  # nothing forged was kept for the next subscriber either
        late.wait_ready()
        late.publish(t.worker_alert(WORKER), b"sentinel")
        until(lambda: late.received(), "the sentinel")
        assert late.received() == [(t.worker_alert(WORKER), b"sentinel")]
    finally:
        late.close()


async def test_the_daemon_runs_end_to_end_on_its_own_credentials(cluster: Cluster, broker: Broker,
                                                                   tmp_path: Path) -> None:
    """A panic press from the wearable's account reaches the daemon, whose alert reaches the wearable, and the
    console's acknowledgement (on its own ack topic) reaches the alarm. The site file is the pod's, with only
    what this machine lacks changed: the broker's address, the paths, no serial hardware and no uplink."""
    data = yaml.safe_load(data_of(cluster.overlays["rpi"].one("Secret", "siteguard-site"))["site.yaml"])
    data["mqtt"] = {**data["mqtt"], "host": "127.0.0.1", "port": broker.port}
    data["storage"] = {**data["storage"], "path": str(tmp_path / "siteguard.db")}
    data["http"] = {"host": "127.0.0.1", "port": 0}
    data["serial"], data["sync"] = [], {"enabled": False}
    t, pw = broker.topics, broker.passwords
    wearable = _Client(broker.port, WEARABLE, pw[WEARABLE], (t.worker_alert(WORKER),))
    console = _Client(broker.port, CONSOLE, pw[CONSOLE], (f"{t.prefix}/alarms/+",))
    daemon = EdgeDaemon(parse_config(data))
    await daemon.start()
    try:
        wearable.wait_ready()
        console.wait_ready()
        await eventually(lambda: daemon.readiness()["ready"] is True, 20, "the daemon ready on its own account")
        # pressed again until the ingest process's own subscription, made as it starts, is in place
        for _ in range(50):
            wearable.publish(t.wearable_telemetry("wb-01"), b'{"panic": true}')
            with contextlib.suppress(TimeoutError):
                await eventually(lambda: bool(wearable.received()), 0.2, "the panic alert on the wearable")
                break
        assert wearable.received(), "no alert for the panic press"
        alert = json.loads(wearable.received()[0][1])
        assert alert["kind"].startswith("panic") and alert["state"] == "active_unacknowledged"
        console.publish(t.alarm_ack(alert["alarm_id"], CONSOLE), b'{"note": "on my way"}')

        def acknowledged() -> bool:
            records = [json.loads(p) for topic, p in console.received() if topic == t.alarm(alert["alarm_id"]) and p]
            return any(r["state"] == "active_acknowledged" for r in records)

        await eventually(acknowledged, 10, "the alarm acknowledged by the console")
        assert daemon.refused_acks == 0 and daemon.unknown_acks == 0
    finally:
        wearable.close()
        console.close()
        await daemon.stop()

"""A camera model that crashes on the device, on the real parts: the demo site's daemon with a camera, its update
agent and the real cloud service. The rollout's canary switches to the candidate, whose worker then dies on every
few frames; the device rolls back by itself (no cloud in the decision), reports it, and the cloud halts the
rollout for the whole fleet: the other device is given the baseline back. Panic presses throughout reach their
workers' wearables as always: the sensor alarm path does not wait on the camera's troubles."""
from __future__ import annotations

import asyncio
import json
import queue
import shutil
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.config import RegistryConfig
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.config.sync import SyncSettings
from edge_runtime.config.updates import UpdateSettings
from edge_runtime.daemon import EdgeDaemon
from models.package import Manifest
from tests.broker import Mosquitto
from tests.cloud.conftest import cloud_url, postgres_url  # noqa: F401  (fixtures)
from tests.cloud.rollout.fleet import Edge
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401
from tests.e2e.harness import SimSite, eventually
from tests.vision import misbehaving
from tests.vision.slot_support import settings as vision_settings
from tests.vision_pipeline.conftest import render_video
from tests.vision_pipeline.test_worker import PEOPLE

pytestmark = [pytest.mark.usefixtures("needs_mosquitto"), pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "models" / "camera" / "default"
DEVICE, OTHER = "edge-cam", "edge-cam-2"
PROFILE = {"cpu_arch": "x86_64", "memory_mb": 8192, "runtimes": {"onnxruntime": "1.20.0"}}
PROBES = [(f"wb-0{i}", f"w0{i}") for i in range(1, 9)]  # workers with no panic in the demo scenario
ALERT_BOUND_S = 2.0  # an order of magnitude above the alarm path's target: a bound, not a benchmark


class Alerts:
    """Worker alerts as a wearable receives them, stamped on arrival."""

    def __init__(self, port: int) -> None:
        self.got: queue.Queue[tuple[str, dict[str, object], float]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-wearables")
        self.client.on_message = lambda _c, _u, m: self.got.put((m.topic, json.loads(m.payload or b"{}"),
                                                                 time.monotonic()))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("siteguard/demo-site/workers/+/alert", qos=1)
        self.client.loop_start()

    def press(self, wearable: str, worker: str) -> float | None:
        """Panic on ``wearable``: seconds until ``worker``'s panic alert arrived (None: not within the bound)."""
        topic = f"siteguard/demo-site/workers/{worker}/alert"
        t0 = time.monotonic()
        self.client.publish(f"siteguard/demo-site/wearables/{wearable}/telemetry",
                            json.dumps({"panic": True, "ts": time.time()}).encode(), qos=1)
        while (left := t0 + ALERT_BOUND_S - time.monotonic()) > 0:
            try:
                got_topic, body, at = self.got.get(timeout=left)
            except queue.Empty:
                return None
            if got_topic == topic and body.get("kind") == "panic":
                return at - t0
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_a_crashing_camera_model_is_rolled_back_by_the_device_and_halts_the_rollout(
        fast_reports: None, cloud: Cloud, tmp_path: Path) -> None:
    if cloud.engine.dialect.name != "sqlite":
        pytest.skip("the rollout's PostgreSQL paths are tests/cloud/rollout's; once here is enough")
    keys = vision_settings().keys()
    registry = ModelRegistry(cloud.engine, RegistryConfig.from_env(cloud.data_dir).store_dir)
    baseline = Manifest.model_validate_json((DEFAULT / "manifest.json").read_bytes()).version
    registry.register(DEFAULT, keys, "tests")
    crashing = misbehaving.onnx_variant(DEFAULT, tmp_path / "crashing", "9.0.0-crashing", misbehaving.crashing)
    registry.register(crashing, keys, "tests")
    credentials = {}
    for device_id in (DEVICE, OTHER):
        got = await cloud.admin().call("POST", "/devices", {"id": device_id, "site": "demo-site", "name": device_id,
                                                            "device_type": "cam-gw", "profile": PROFILE})
        assert got.status == 201, got
        credentials[device_id] = got.body["credential"]["credential"]
    credential_file = tmp_path / "edge.credential"
    credential_file.write_text(credentials[DEVICE] + "\n")
    other = Edge(cloud.http, DeviceCredential.parse(credentials[OTHER]))
    pinned = await cloud.admin().call("PUT", "/pins", {"slot": "camera", "scope": "site", "key": "demo-site",
                                                       "model": "siteguard-ppe-detector", "version": baseline})
    assert pinned.status == 200, pinned

    (tmp_path / "mqtt").mkdir()
    (tmp_path / "edge").mkdir()
    broker = Mosquitto(workdir=tmp_path / "mqtt")
    broker.start()
    site = SimSite(tmp_path / "edge", broker.port, "demo.yaml")
    daemon: EdgeDaemon | None = None
    alerts: Alerts | None = None
    try:
        config = await site.start()
        video, _ = render_video(tmp_path / "yard.avi", PEOPLE)
        camera = CameraConfig(id="cam0", source=str(video), loop=True, fps=10, model=DEFAULT)
        sync = SyncSettings.model_validate({
            "enabled": True, "url": cloud.url, "credential_file": credential_file, "max_age_s": 0.2, "poll_s": 0.05,
            "heartbeat_interval_s": 1.0, "retry_initial_s": 0.1, "retry_max_s": 1.0})
        updates = UpdateSettings.model_validate({"enabled": True, "poll_interval_s": 0.5, "report_interval_s": 1.0,
                                                 "retry_initial_s": 0.2, "retry_max_s": 1.0})
        vision = vision_settings()  # the shipped model's key and the tests' key, signatures required
        daemon = EdgeDaemon(config.model_copy(update={"device_id": DEVICE, "sync": sync, "updates": updates,
                                                      "cameras": (camera,), "vision": vision}))
        await daemon.start()
        site.play()
        alerts = Alerts(broker.port)
        assert daemon.vision is not None
        await eventually(lambda: _camera_version(daemon) == baseline, 60, "the camera on the baseline", every=0.25)

        created = await cloud.admin().call("POST", "/rollouts", {
            "slot": "camera", "model": "siteguard-ppe-detector", "version": "9.0.0-crashing",
            "target": {"sites": ["demo-site"]}, "canaries": [DEVICE], "canary_share": 0.0, "shadow_s": 0.0,
            "watch_s": 60.0, "healthy_period_s": 600.0})
        assert created.status == 201, created
        rollout_id = created.body["id"]

        latencies: list[float | None] = []
        switched = rolled_back = None
        deadline = time.monotonic() + 150
        probes = iter(PROBES)
        while rolled_back is None and time.monotonic() < deadline:
            version = _camera_version(daemon)
            if switched is None and version == "9.0.0-crashing":
                switched = time.monotonic()
            elif switched is not None and version == baseline and _slot_state(daemon) == "rolled_back":
                rolled_back = time.monotonic()
            if switched is not None and (probe := next(probes, None)) is not None:
                latencies.append(await asyncio.to_thread(alerts.press, *probe))  # during the crash loop
            await asyncio.sleep(0.25)
        assert switched is not None, daemon.updates.status()
        assert rolled_back is not None, daemon.updates.status()
        assert rolled_back - switched <= 60.0
        reason = daemon.updates.status()["slots"]["camera"]["reason"] or ""
        assert "crash" in reason or "exit" in reason, reason
        assert latencies and all(lat is not None for lat in latencies), latencies  # none lost, none late

        got = await eventually(lambda: _rollout(cloud, rollout_id, "halted"),
                               30, "the rollout halted fleet-wide", every=0.25)
        assert any(e["kind"] == "halted" and e.get("device_id") == DEVICE for e in got["events"]), got["events"]
        fleet = await other.desired()
        assert fleet.body["models"]["camera"]["version"] == baseline  # the others are given the baseline back
        assert rollout_id in fleet.body["halted"]
        await eventually(lambda: _detections_from(daemon, baseline),
                         30, "detections from the baseline again", every=0.25)
    finally:
        if alerts is not None:
            alerts.close()
        if daemon is not None:
            await asyncio.wait_for(daemon.stop(), 60)
        await site.stop()
        broker.stop()
        shutil.rmtree(tmp_path / "crashing", ignore_errors=True)


def _camera_version(daemon: EdgeDaemon) -> str | None:
    assert daemon.vision is not None
    lineage = daemon.vision.status()["cam0"]["model"]
    return lineage.get("version") if lineage else None


def _slot_state(daemon: EdgeDaemon) -> str | None:
    return daemon.updates.status()["slots"].get("camera", {}).get("state")


def _detections_from(daemon: EdgeDaemon, version: str) -> bool:
    assert daemon.vision is not None
    status = daemon.vision.status()["cam0"]
    return status["model"].get("version") == version and status["online"] is True


async def _rollout(cloud: Cloud, rollout_id: str, state: str) -> dict | None:
    got = await cloud.admin().call("GET", f"/rollouts/{rollout_id}")
    return got.body if got.body["state"] == state else None

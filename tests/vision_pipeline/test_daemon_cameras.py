"""End to end: video file -> camera worker -> detections -> camera rules -> alarm on a real broker,
through the real daemon; and a dead camera worker never stalls a sensor alarm."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from edge_runtime.config.cameras import CameraConfig
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.sim.camera import (
    DEMO_MOUNT,
    DEMO_SEED,
    CameraScript,
    Extra,
    SimCamera,
)
from tests.broker import Mosquitto, Subscriber
from tests.e2e.harness import (
    SimSite,
    eventually,
    is_alarm_record,
    is_alert,
    running,
    topic,
)

CAMERA = "cam-substation"


def camera_entry(video: Path, model: Path) -> dict[str, object]:
    # min_score at the decoder's own threshold: this test is about the path, not about the model's confidence
    return {"id": CAMERA, "source": str(video), "loop": True, "fps": 5, "model": str(model), "min_frames": 2,
            "rules": {"min_score": 0.35}, "ground_points": DEMO_MOUNT.ground_points()}


async def alarm_record(sub: Subscriber, daemon: EdgeDaemon, kind: str, timeout: float) -> dict[str, object]:
    """The first retained alarm record of ``kind``; on a timeout, say what did happen (briefly)."""
    try:
        return json.loads((await sub.wait_for_async(is_alarm_record(lambda r: r["kind"] == kind), timeout)).payload)
    except TimeoutError:
        kinds = sorted({json.loads(m.payload)["kind"] for m in sub.messages if is_alarm_record(lambda r: True)(m)})
        raise AssertionError(f"no {kind} alarm in {timeout} s; alarms: {kinds}; cameras: {daemon.vision and daemon.vision.status()}") from None


@asynccontextmanager
async def site_with_camera(tmp: Path, port: int, model: Path, scenario: str) -> AsyncIterator[tuple[SimSite, EdgeDaemon]]:
    """The demo site playing ``scenario``, plus the substation camera watching an untagged
    man standing inside the restricted electrical room."""
    site = SimSite(tmp, port, scenario)
    camera = CameraConfig.model_validate(camera_entry(tmp / "cam.avi", model))
    script = CameraScript(extras=(Extra("stranger", start=(-37.0, 22.0), helmet=True, vest=True),))
    SimCamera(camera, site.sim.world, site.sim.scenario, [], script, seed=DEMO_SEED).write(tmp / "cam.avi", 3, 5)
    site.base = {**site.base, "cameras": [camera_entry(tmp / "cam.avi", model)],
                 "vision": {"restart_initial_s": 0.2, "snapshot_interval_s": 0}}
    async with running(site) as daemon:
        yield site, daemon


async def test_a_person_on_video_in_a_restricted_zone_raises_camera_intruder_on_the_broker(
    tmp_path: Path, mosquitto: Mosquitto, default_model: Path
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with site_with_camera(tmp_path, mosquitto.port, default_model, "h2s_leak.yaml") as (site, daemon):
            site.play()
            body = await alarm_record(sub, daemon, "camera_intruder", timeout=45)
            assert body["subject"] == "zone:elec-room" and body["condition"] == f"camera_intruder:{CAMERA}"
            assert body["priority"] == "high" and body["zone"] == "elec-room"
            assert "w10" in body["workers"]  # the electricians authorised for the room are told
            snapshots = tmp_path / "snapshots"
            await eventually(lambda: any(snapshots.glob("*camera_intruder.json")), 10, "alarm snapshot")
            sidecar = json.loads(next(snapshots.glob("*camera_intruder.json")).read_text())
            assert sidecar["camera"] == CAMERA and sidecar["model"]["sha256"] and sidecar["detections"]
            assert (snapshots / next(snapshots.glob("*camera_intruder.json")).with_suffix(".jpg").name).exists()
            async with aiohttp.ClientSession() as http, http.get(f"{daemon.http.url}/readyz") as resp:
                ready = await resp.json()
            assert ready["cameras"][CAMERA]["online"] is True and "camera" not in ready["checks"]


async def test_killing_the_camera_worker_never_stalls_a_gas_alarm(
    tmp_path: Path, mosquitto: Mosquitto, default_model: Path
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with site_with_camera(tmp_path, mosquitto.port, default_model, "h2s_leak.yaml") as (site, daemon):
            vision = daemon.vision
            assert vision is not None
            await eventually(lambda: vision.status()[CAMERA]["frames"] > 0, 60, "camera delivering")
            pid = vision.pid(CAMERA)
            assert pid is not None
            site.play()  # H2S rises in tank 2 from t=3 s
            await asyncio.sleep(2.5)
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            alert = await sub.wait_for_async(is_alert("w03", "gas"), timeout=20)
            assert json.loads(alert.payload)["state"] == "active_unacknowledged"
            assert time.monotonic() - killed < 15
            # ... and the camera came back by itself
            frames = vision.status()[CAMERA]["frames"]
            await eventually(lambda: vision.status()[CAMERA]["frames"] > frames and vision.pid(CAMERA) != pid,
                             60, "restarted camera delivering again")
            assert vision.status()[CAMERA]["restarts"] == 1

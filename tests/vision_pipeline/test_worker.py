"""Camera worker processes with the real default model: detections back, restart, model failure, hot swap."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.config.cameras import CameraConfig, VisionSettings
from edge_runtime.vision.detections import CameraStatus, FrameDetections
from edge_runtime.vision.postprocess import pairwise_iou
from edge_runtime.vision.supervisor import VisionSupervisor
from models.camera.scene import Box, PersonSpec
from tests.e2e.harness import eventually

from .conftest import render_video

FAST = VisionSettings(restart_initial_s=0.2, restart_max_s=1.0, offline_after_restarts=2)
PEOPLE = [PersonSpec(x=190, y=420, height=260, helmet=False, appearance=1), PersonSpec(x=460, y=400, height=240, appearance=2)]


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, list[Box]]:
    return render_video(tmp_path / "yard.avi", PEOPLE)


@pytest.fixture
def video(scene: tuple[Path, list[Box]]) -> Path:
    return scene[0]


class Events(list):
    async def until(self, predicate: Callable[[object], bool], timeout: float = 30.0) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self:
                if predicate(event):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event within {timeout}s; got {[type(e).__name__ for e in self][-20:]}")


def _finds(frame: FrameDetections, truth: list[Box]) -> bool:
    """Every rendered person has a detection on it (IoU >= 0.5): boxes come back in frame pixels."""
    found = np.array([d.box for d in frame.detections], np.float32).reshape(-1, 4)
    wanted = np.array([b.as_tuple() for b in truth], np.float32)
    return len(found) > 0 and bool((pairwise_iou(wanted, found).max(axis=1) >= 0.5).all())


def frames(since: int = 0) -> Callable[[object], bool]:
    return lambda e: isinstance(e, FrameDetections) and e.frame_id > since


async def running(camera: CameraConfig, tmp: Path, settings: VisionSettings = FAST) -> tuple[VisionSupervisor, Events]:
    events = Events()
    supervisor = VisionSupervisor((camera,), settings, events.append, snapshot_dir=tmp / "snapshots")
    await supervisor.start()
    return supervisor, events


async def test_video_to_detections_with_lineage(tmp_path: Path, scene: tuple[Path, list[Box]], default_model: Path) -> None:
    video, truth = scene
    camera = CameraConfig(id="yard", source=str(video), loop=True, fps=10, model=default_model)
    supervisor, events = await running(camera, tmp_path)
    try:
        online = await events.until(lambda e: isinstance(e, CameraStatus), 60)
        assert isinstance(online, CameraStatus) and online.online
        hit = await events.until(lambda e: isinstance(e, FrameDetections) and _finds(e, truth), 30)
        assert isinstance(hit, FrameDetections)
        manifest = json.loads((default_model / "manifest.json").read_text())
        assert (hit.model, hit.model_version) == (manifest["name"], manifest["version"])
        assert len(hit.model_sha256) == 64 and hit.backend and hit.inference_ms > 0 and hit.latency_ms > hit.inference_ms
        assert (hit.width, hit.height) == (640, 480)
        assert {d.label for d in hit.detections} <= set(manifest["labels"])
        await eventually(lambda: supervisor.annotated_frame("yard") is not None, 5, "annotated frame")  # after the send
        annotated = supervisor.annotated_frame("yard")
        assert annotated is not None and annotated.image.shape == (480, 640, 3)
        status = supervisor.status()["yard"]
        assert status["online"] and status["model"]["version"] == manifest["version"] and status["restarts"] == 0
    finally:
        await supervisor.stop()


async def test_a_killed_worker_is_restarted(tmp_path: Path, video: Path, default_model: Path) -> None:
    camera = CameraConfig(id="yard", source=str(video), loop=True, fps=10, model=default_model)
    supervisor, events = await running(camera, tmp_path)
    try:
        first = await events.until(frames(), 60)
        pid = supervisor.pid("yard")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: supervisor.pid("yard") not in (None, pid), 10, "a new worker")
        last = max(e.frame_id for e in events if isinstance(e, FrameDetections))
        after = await events.until(frames(last), 60)  # the frame ids go on: the ring outlives the worker
        assert isinstance(first, FrameDetections) and isinstance(after, FrameDetections)
        assert supervisor.status()["yard"]["restarts"] == 1
        assert not any(isinstance(e, CameraStatus) and not e.online for e in events), "one death is not offline"
    finally:
        await supervisor.stop()
    assert supervisor.pid("yard") is None


async def test_a_model_that_cannot_load_is_reported_and_the_camera_goes_offline(tmp_path: Path, video: Path) -> None:
    camera = CameraConfig(id="yard", source=str(video), loop=True, model=tmp_path)  # not a model package
    supervisor, events = await running(camera, tmp_path)
    try:
        offline = await events.until(lambda e: isinstance(e, CameraStatus) and not e.online, 60)
        assert isinstance(offline, CameraStatus)
        assert "failed 2 times in a row" in offline.reason and "manifest.json" in offline.reason
        assert not any(isinstance(e, FrameDetections) for e in events)
        assert supervisor.status()["yard"]["restarts"] >= 2
    finally:
        await supervisor.stop()


def _copy_package(src: Path, dst: Path, version: str) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["version"] = version
    (dst / "manifest.json").write_text(json.dumps(manifest))
    (dst / "manifest.sig").unlink(missing_ok=True)  # no trusted keys configured here: unsigned is accepted
    return dst


async def test_hot_swap_replaces_the_model_only_when_the_new_one_works(tmp_path: Path, video: Path, default_model: Path) -> None:
    camera = CameraConfig(id="yard", source=str(video), loop=True, fps=10, model=default_model)
    supervisor, events = await running(camera, tmp_path)
    try:
        first = await events.until(frames(), 60)
        assert isinstance(first, FrameDetections)
        broken = _copy_package(default_model, tmp_path / "broken", "9.9.9-broken")
        artifact = next(p for p in broken.iterdir() if p.suffix in (".tflite", ".onnx"))
        artifact.write_bytes(artifact.read_bytes()[:100])  # truncated: its sha256 no longer matches
        supervisor.swap_model("yard", broken)
        await asyncio.sleep(2.0)
        assert "sha256" in supervisor.status()["yard"]["last_error"]
        latest = max((e for e in events if isinstance(e, FrameDetections)), key=lambda e: e.frame_id)
        assert latest.model_version == first.model_version and latest.frame_id > first.frame_id, "old model kept running"

        good = _copy_package(default_model, tmp_path / "next", "9.9.9-next")
        supervisor.swap_model("yard", good)
        swapped = await events.until(lambda e: isinstance(e, FrameDetections) and e.model_version == "9.9.9-next", 60)
        assert isinstance(swapped, FrameDetections) and supervisor.status()["yard"]["model"]["version"] == "9.9.9-next"
    finally:
        await supervisor.stop()


async def test_a_hung_worker_is_killed_and_restarted(tmp_path: Path, video: Path, default_model: Path) -> None:
    """A worker that stops answering (a runtime stuck in a call) is killed after stall_s."""
    camera = CameraConfig(id="yard", source=str(video), loop=True, fps=10, model=default_model)
    settings = VisionSettings(restart_initial_s=0.2, stall_s=1.5)
    supervisor, events = await running(camera, tmp_path, settings)
    try:
        await events.until(frames(), 60)
        pid = supervisor.pid("yard")
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # frozen: the pipe stays open, nothing comes through it
        await eventually(lambda: "silent" in supervisor.status()["yard"]["last_error"], 10, "the stall noticed")
        await eventually(lambda: supervisor.pid("yard") not in (None, pid), 10, "the stalled worker replaced")
        last = max(e.frame_id for e in events if isinstance(e, FrameDetections))
        await events.until(frames(last), 60)
        status = supervisor.status()["yard"]
        assert status["restarts"] == 1 and status["last_error"] == "", "recovered: no error left standing"
    finally:
        await supervisor.stop()


def test_annotated_view_draws_image_zones_and_boxes_on_a_copy() -> None:
    """The dashboard's camera tile: zone outlines in amber, boxes in their label's colour."""
    from edge_runtime.config.cameras import ImageZone
    from edge_runtime.vision.detections import Detection
    from edge_runtime.vision.worker import ZONE_COLOR, annotate

    frame = np.zeros((120, 160, 3), np.uint8)
    zone = ImageZone(zone="tank-2", polygon=((10, 10), (150, 10), (150, 110), (10, 110)))
    out = annotate(frame, [Detection("no_helmet", 0.9, (40.0, 30.0, 80.0, 90.0))], (zone,))
    assert not frame.any()  # the processed frame (snapshots) stays clean
    assert tuple(out[110, 80]) == ZONE_COLOR  # on the zone's bottom edge
    assert tuple(out[90, 60]) == (0, 0, 230)  # on the box's bottom edge

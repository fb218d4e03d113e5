"""The simulated camera's ground truth, and the demo's automatic labeller against the real cloud service.

The labeller is a client of the label API, so the service runs on SQLite
here; the label API itself is tested on SQLite and PostgreSQL in
tests/cloud/test_labels.py.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from cloud_sync.contract import batch
from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.records import SnapshotRecord
from cloud_sync.db.migrate import upgrade
from edge_runtime.config import parse_config
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.demo import demo_site_data, resolve_scenario
from edge_runtime.sim.autolabel import AutoLabeller
from edge_runtime.sim.camera import DEMO_SCRIPT, DEMO_SEED, DEMO_VIDEO_FPS, SimCamera, demo_cameras
from edge_runtime.sim.ground_truth import TruthBox, normalised, read_truth, truth_path
from edge_runtime.sim.world import World
from models.camera.render import render_scene
from tests.cloud.test_service_harness import Cloud, cloud, frame_jpeg  # noqa: F401

CAMERA = "cam-substation"
SECONDS = 28.0  # w13 without a hard hat at the door (13-17 s), the intruder walking in (19 s) and down (26 s)
NO_HELMET, PERSON, DOWN = 75, 110, 135  # frames at 5 fps


@pytest.fixture
def cloud_url(tmp_path: Path) -> str:
    path = tmp_path / "cloud.db"
    upgrade(str(path))
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimCamera, Path]:
    base = demo_site_data()
    config, scenario = parse_config(base), resolve_scenario("demo.yaml")
    video = tmp_path_factory.mktemp("sim") / "cam-substation.avi"
    camera = CameraConfig.model_validate(demo_cameras(video)[0])
    sim = SimCamera(camera, World(config, scenario), scenario, [w.id for w in config.workers], DEMO_SCRIPT,
                    seed=DEMO_SEED)
    sim.write(video, SECONDS, DEMO_VIDEO_FPS)
    return sim, video


def video_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames: dict[int, np.ndarray] = {}
    try:
        for k in range(max(wanted) + 1):
            ok, frame = capture.read()
            assert ok, k
            if k in wanted:
                frames[k] = frame
    finally:
        capture.release()
    return frames


def test_the_sidecar_holds_what_the_renderer_drew_in_every_frame(demo_video: tuple[SimCamera, Path]) -> None:
    sim, video = demo_video
    truth = read_truth(video)
    assert truth_path(video).name == "cam-substation.avi.truth.jsonl"
    assert len(truth) == round(SECONDS * DEMO_VIDEO_FPS)
    for k in (NO_HELMET, PERSON, DOWN):
        people = sim.people(k / DEMO_VIDEO_FPS)
        _, drawn = render_scene(people, width=sim.width, height=sim.height, seed=0, background=sim.background)
        assert truth[k] == normalised(drawn, sim.width, sim.height)
    assert [b.label for b in truth[NO_HELMET]] == ["no_helmet"]
    assert [b.label for b in truth[PERSON]] == ["person"]
    assert [b.label for b in truth[DOWN]] == ["person_down"]
    assert all(0 <= v <= 1 for boxes in truth for b in boxes for v in (b.x1, b.y1, b.x2, b.y2))


def _pixels(boxes: tuple[TruthBox, ...], label: str | None = None) -> list[dict[str, object]]:
    return [{"label": label or b.label, "score": 0.45, "box": [b.x1 * 640, b.y1 * 480, b.x2 * 640, b.y2 * 480]}
            for b in boxes]


def snapshots(device: str, shots: list[tuple[str, np.ndarray | bytes, list[dict[str, object]]]]) -> bytes:
    """Hard-example snapshots as the edge's sync agent sends them: frames JPEG'd as the edge does (quality 90)."""
    records = []
    for i, (camera, image, detections) in enumerate(shots, start=1):
        jpeg = image if isinstance(image, bytes) else cv2.imencode(".jpg", image, (cv2.IMWRITE_JPEG_QUALITY, 90))[1]
        records.append(SnapshotRecord(stem=f"{int(1.7e12) + i}-{camera}-{i}", camera=camera, ts=1.7e9 + i,
                                      reason="hard_example", detections=detections,
                                      model={"name": "ppe", "version": "1.0.0", "sha256": "ab" * 32},
                                      jpeg=bytes(jpeg)))
    ids = list(range(1, len(records) + 1))
    columns = {name: [getattr(r, name) for r in records] for name in SnapshotRecord.model_fields}
    return batch.encode(device, [Chunk("snapshots", ids[0], ids[-1], ids, columns)], time.time())


async def test_it_labels_video_frames_with_the_truth_and_leaves_the_rest(
    cloud: Cloud, demo_video: tuple[SimCamera, Path],  # noqa: F811
) -> None:
    _, video = demo_video
    truth = read_truth(video)
    frames = video_frames(video, {NO_HELMET, PERSON, DOWN})
    device = await cloud.register("edge-sim")
    sent = snapshots("edge-sim", [
        (CAMERA, frames[NO_HELMET], _pixels(truth[NO_HELMET])),  # the model was right
        (CAMERA, frames[PERSON], _pixels(truth[PERSON], "no_vest")),  # wrong class
        (CAMERA, frames[DOWN], []),  # missed the fall
        (CAMERA, frame_jpeg(3, (640, 480)), _pixels(truth[PERSON])),  # not a frame of the video
        ("cam-gate", frames[PERSON], []),  # a camera the labeller has no video of
    ])
    assert (await device.batch(sent)).status == 200
    admin = cloud.admin()
    ids = [e["id"] for e in (await admin.call("GET", "/labels/hard-examples")).body["examples"]]
    assert len(ids) == 5

    labeller = AutoLabeller(cloud.url, cloud.token, {CAMERA: video})
    assert await asyncio.to_thread(labeller.label_pending, 20) == 3
    assert labeller.labelled == {"accepted": 1, "corrected": 2} and labeller.left_for_people == 1

    labelled = {e["id"]: e["label"] for e in (await admin.call("GET", "/labels/hard-examples?status=labelled"))
                .body["examples"]}
    expected = {ids[0]: ("accepted", truth[NO_HELMET]), ids[1]: ("corrected", truth[PERSON]),
                ids[2]: ("corrected", truth[DOWN])}
    assert {i: (label["status"], tuple(TruthBox(**b) for b in label["boxes"])) for i, label in labelled.items()} \
        == expected
    assert all(label["by"].startswith("token:") for label in labelled.values())
    left = (await admin.call("GET", "/labels/hard-examples")).body["examples"]
    assert [e["id"] for e in left] == [ids[3], ids[4]]

    assert await asyncio.to_thread(labeller.label_pending, 20) == 0  # nothing new; the stranger is not retried
    assert labeller.left_for_people == 1

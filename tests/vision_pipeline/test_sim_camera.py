"""The simulated camera: people where the World has them, seen through the site file's homography."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_runtime.config import parse_config
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.demo import demo_site_data, resolve_scenario
from edge_runtime.geometry import Homography
from edge_runtime.sim.camera import DEMO_MOUNT, DEMO_SCRIPT, SimCamera, demo_cameras
from edge_runtime.sim.world import World


def _demo_camera(tmp_path: Path) -> SimCamera:
    base = demo_site_data()
    config, scenario = parse_config(base), resolve_scenario("demo.yaml")
    camera = CameraConfig.model_validate(demo_cameras(tmp_path / "cam.avi")[0])
    return SimCamera(camera, World(config, scenario), scenario, [w.id for w in config.workers], DEMO_SCRIPT)


def test_ground_points_agree_with_the_mount() -> None:
    """The homography fitted from the site file's ground points sends the image centre's ground
    point (where the mount's central ray meets the ground) back to the image centre."""
    camera = CameraConfig.model_validate({"id": "c", "source": "x", "ground_points": DEMO_MOUNT.ground_points()})
    h = Homography.of(camera)
    assert h is not None
    ray = DEMO_MOUNT.ray(320, 240)
    s = DEMO_MOUNT.height_m / -ray[2]
    centre = (DEMO_MOUNT.position[0] + s * ray[0], DEMO_MOUNT.position[1] + s * ray[1])
    assert np.allclose(h.to_image(np.array([centre])), [[320, 240]], atol=0.5)


def test_demo_camera_sees_the_visitor_without_helmet_and_the_intruder_collapse(tmp_path: Path) -> None:
    sim = _demo_camera(tmp_path)
    seen = {t: sim.people(t) for t in (5.0, 16.0, 30.0)}
    assert [p.label for p in seen[5.0]] == ["person"] and seen[5.0][0].height < 60  # a worker far off
    assert sorted(p.label for p in seen[16.0]) == ["no_helmet", "person"]  # w13 at the door; the intruder
    assert all(p.height > 110 for p in seen[16.0])  # near enough for the model (6-8 m)
    assert [p.label for p in seen[30.0]] == ["person_down"]  # he collapsed in the room


def test_video_is_written_at_the_asked_rate(tmp_path: Path) -> None:
    sim = _demo_camera(tmp_path)
    path = sim.write(tmp_path / "cam.avi", duration_s=1.0, fps=5.0)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 5 and cap.get(cv2.CAP_PROP_FPS) == 5.0
        ok, frame = cap.read()
        assert ok and frame.shape == (480, 640, 3)
    finally:
        cap.release()

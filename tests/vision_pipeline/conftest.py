"""Shared pieces of the camera pipeline tests: the real default model and rendered site videos."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.sim.camera import write_video
from models.camera.backdrop import make_background
from models.camera.render import render_scene
from models.camera.scene import Box, PersonSpec

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "models" / "camera" / "default"


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The shipped camera model package; the tests that run it skip (saying why) until it exists."""
    if not (DEFAULT_MODEL / "manifest.json").is_file():
        pytest.skip("models/camera/default is not there yet: these tests run the real default camera model")
    return DEFAULT_MODEL


def render_video(path: Path, people: Sequence[PersonSpec], *, frames: int = 10, fps: float = 10.0,
                 size: tuple[int, int] = (640, 480), seed: int = 5) -> tuple[Path, list[Box]]:
    """A short MJPG video of ``people`` standing still (fresh sensor noise each frame), and their boxes."""
    bg = make_background(np.random.default_rng(seed), *size)
    while bg.horizon > 0:  # ground only, as a camera on a pole sees it
        bg = make_background(np.random.default_rng(seed := seed + 1), *size)
    shots = [render_scene(people, width=size[0], height=size[1], seed=seed * 1000 + k, background=bg)
             for k in range(frames)]
    return write_video(path, (image for image, _ in shots), fps), shots[0][1]

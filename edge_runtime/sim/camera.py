"""Simulated site cameras: video of the simulated workers, rendered by the camera model's scene renderer.

A camera is described the way an installer would (where the pole stands, how
high, which way it looks, its lens); :class:`CameraMount` turns that into the
site file's ``ground_points`` and from then on only the site file's camera
(its homography) is used, by the renderer as by the edge, so video and
simulation agree. Each frame shows, at scenario time ``k / fps``:

- every worker of the World where the World has them, seen lying down while
  the scenario says ``fall`` (after the impact) or ``still``, walking while
  they move, wearing helmet and vest unless the :class:`CameraScript` says not;
- the script's *extras*: people who carry no tag (an intruder), each walking
  a route and possibly collapsing.

The file is an MJPG ``.avi`` written with ``cv2.VideoWriter``; the edge plays
it in real time (``realtime: true``), so camera and sensors tell the same story
(the video starts when the camera worker opens it, about a second after the
simulation: people walking at 1.5 m/s are seen up to ~1.5 m behind their tag).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.config.cameras import CameraConfig
from edge_runtime.geometry import Homography
from models.camera.backdrop import Background, make_background
from models.camera.render import render_scene
from models.camera.scene import Box, PersonSpec, Pose

from .ground_truth import TruthRecorder
from .scenario import Scenario, WorkerEvent
from .timeline import Leg, Point
from .world import FREE_FALL_S, IMPACT_S, World

PERSON_M = 1.75
GAIT_HZ = 0.9  # strides per second of a walking figure


@dataclass(frozen=True, slots=True)
class CameraMount:
    """A pinhole camera on a pole: ``bearing_deg`` clockwise from north, ``pitch_deg`` down from level."""

    position: Point
    height_m: float
    bearing_deg: float
    pitch_deg: float
    hfov_deg: float
    width: int = 640
    height: int = 480

    def ray(self, u: float, v: float) -> np.ndarray:
        """Direction (east, north, up) of the pixel (u, v)."""
        psi, theta = math.radians(self.bearing_deg), math.radians(self.pitch_deg)
        forward = np.array([math.sin(psi) * math.cos(theta), math.cos(psi) * math.cos(theta), -math.sin(theta)])
        right = np.array([math.cos(psi), -math.sin(psi), 0.0])
        down = np.cross(forward, right)
        focal = (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        return forward + (u - self.width / 2) / focal * right + (v - self.height / 2) / focal * down

    def ground_points(self) -> list[dict[str, list[float]]]:
        """Four pixels near the image corners and where their rays meet the ground (site file form)."""
        out = []
        for fu, fv in ((0.0, 1.0), (1.0, 1.0), (1.0, 0.3), (0.0, 0.3)):
            u, v = fu * (self.width - 1), fv * (self.height - 1)
            ray = self.ray(u, v)
            if ray[2] >= 0:
                raise ValueError(f"pixel ({u:.0f}, {v:.0f}) looks above the horizon: pitch the camera down")
            s = self.height_m / -ray[2]
            site = (self.position[0] + s * ray[0], self.position[1] + s * ray[1])
            out.append({"image": [round(u, 1), round(v, 1)], "site": [round(float(site[0]), 3), round(float(site[1]), 3)]})
        return out


@dataclass(frozen=True, slots=True)
class Extra:
    """A person without a tag: walks ``route`` from ``at`` and lies down at ``down_at`` (if set)."""

    name: str
    start: Point
    route: tuple[Point, ...] = ()
    at: float = 0.0
    speed_mps: float = 1.3
    down_at: float | None = None
    helmet: bool = False
    vest: bool = False


@dataclass(frozen=True, slots=True)
class CameraScript:
    """What the World does not know: PPE per worker (default: both worn) and untagged people."""

    ppe: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # worker -> (helmet, vest)
    extras: tuple[Extra, ...] = ()


class SimCamera:
    """The people one camera sees at any scenario time, and the video of them."""

    def __init__(self, camera: CameraConfig, world: World, scenario: Scenario, workers: Iterable[str],
                 script: CameraScript = CameraScript(), *, width: int = 640, height: int = 480, seed: int = 0) -> None:
        homography = Homography.of(camera)
        if homography is None:
            raise ValueError(f"camera {camera.id}: the simulator needs its homography (or ground_points)")
        self._h = homography
        self._world = world
        self._workers = list(workers)
        self._script = script
        self._motion = _motion_changes(scenario)
        self._legs = {e.name: Leg(e.at, e.start, e.route, e.speed_mps) for e in script.extras}
        self.width, self.height, self._seed = width, height, seed
        self.background = _ground_view(seed, width, height)

    def people(self, t: float) -> list[PersonSpec]:
        """Everyone in view at scenario time ``t``, in frame pixels."""
        out: list[PersonSpec] = []
        for worker in self._workers:
            helmet, vest = self._script.ppe.get(worker, (True, True))
            here = self._world.position(worker, t)
            pose: Pose = "down" if _lying(self._motion.get(worker, []), t) else (
                "walking" if math.dist(here, self._world.position(worker, max(0.0, t - 0.2))) > 0.05 else "standing")
            self._add(out, worker, here, pose, helmet, vest, t)
        for extra in self._script.extras:
            if t < extra.at:
                continue
            (x, y), velocity = self._legs[extra.name].at(t)
            down = extra.down_at is not None and t >= extra.down_at
            pose = "down" if down else ("walking" if velocity != (0.0, 0.0) else "standing")
            self._add(out, extra.name, (x, y), pose, extra.helmet, extra.vest, t)
        return out

    def _render(self, people: list[PersonSpec], index: int) -> tuple[np.ndarray, list[Box]]:
        return render_scene(people, width=self.width, height=self.height,
                            seed=self._seed * 100_003 + index, background=self.background)

    def write(self, path: Path, duration_s: float, fps: float) -> Path:
        """Render ``duration_s`` of scenario time at ``fps`` into an MJPG .avi, its ground truth beside it
        (:mod:`.ground_truth`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (self.width, self.height))
        if not writer.isOpened():
            raise OSError(f"cannot write video {path}")
        shown: list[PersonSpec] | None = None
        image, boxes = np.empty(0), list[Box]()
        truth = TruthRecorder(self.width, self.height, fps)
        try:
            for k in range(max(1, round(duration_s * fps))):
                people = self.people(k / fps)
                if people != shown:  # a still scene is one render: most of a site video is still
                    shown, (image, boxes) = people, self._render(people, k)
                writer.write(image)
                truth.add(k, boxes)
        finally:
            writer.release()
        truth.save(path)
        return path

    def _add(self, out: list[PersonSpec], who: str, xy: Point, pose: Pose, helmet: bool, vest: bool, t: float) -> None:
        if not self._in_front(xy):
            return  # behind the camera, where the homography would fold it into the frame upside down
        u, v = self._h.to_image(np.array([xy]))[0]
        size = PERSON_M * self._h.scale_at(xy)
        w, h = self.width, self.height
        if not (8 < size < 2 * h and -0.25 * w < u < 1.25 * w and 0 < v < 1.3 * h):
            return  # out of view, or too close to the lens to draw
        out.append(PersonSpec(
            x=float(u), y=float(v), height=float(size), pose=pose,
            helmet=helmet, vest=vest, phase=2 * math.pi * GAIT_HZ * t if pose == "walking" else 0.0,
            appearance=zlib.crc32(who.encode()),
        ))

    def _in_front(self, xy: Point) -> bool:
        """A ground point in front of the camera (positive projective depth)."""
        return float((self._h.inverse @ np.array([xy[0], xy[1], 1.0]))[2]) > 0


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Frames (same size) into an MJPG .avi: for tests that compose their own scenes."""
    writer: cv2.VideoWriter | None = None
    try:
        for image in frames:
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
            writer.write(image)
    finally:
        if writer is not None:
            writer.release()
    return path


def _motion_changes(scenario: Scenario) -> dict[str, list[tuple[float, str]]]:
    """Per worker, when the scenario set their motion (a walk means moving, as the World has it)."""
    out: dict[str, list[tuple[float, str]]] = {}
    for e in scenario.in_order:
        if isinstance(e, WorkerEvent) and (e.motion is not None or e.walk is not None):
            out.setdefault(e.worker, []).append((e.at, e.motion if e.motion is not None else "moving"))
    return out


def _lying(changes: list[tuple[float, str]], t: float) -> bool:
    """Lying down while still, or once a fall's impact is over."""
    state, since = "moving", 0.0
    for at, motion in changes:
        if at > t:
            break
        state, since = motion, at
    return state == "still" or (state == "fall" and t - since >= FREE_FALL_S + IMPACT_S)


def _ground_view(seed: int, width: int, height: int) -> Background:
    """A site background with no sky: the camera looks down at the ground. (Zone lines are not
    painted on it: the model never saw such lines and may take one for a person lying down.)"""
    rng = np.random.default_rng(seed)
    background = make_background(rng, width, height)
    while background.horizon > 0:  # a view with sky would put the horizon inside our ground
        background = make_background(rng, width, height)
    return background


# -- the demo's camera ----------------------------------------------------------------------------

DEMO_VIDEO_FPS = 5.0
DEMO_SEED = 4  # the background: plain concrete, no clutter
DEMO_MIN_SCORE = 0.4  # the shipped model's scores on these scenes (docs/cameras.md, "The demo")
DEMO_MOUNT = CameraMount(position=(-33.5, 16.0), height_m=3.0, bearing_deg=318.0, pitch_deg=28.0, hfov_deg=60.0)
"""On the substation's south-east corner post, looking at its door (south-west corner) from 6 m."""
DEMO_SCRIPT = CameraScript(
    ppe={"w13": (False, True)},  # the visiting contractor came without a hard hat
    extras=(Extra("intruder", start=(-44.0, 19.0), route=((-37.0, 21.0),), at=16.0, speed_mps=1.2, down_at=26.0,
                  helmet=True, vest=True),),
)
"""w13 walks past the door at 13-17 s; an untagged subcontractor walks in at ~19 s and collapses at 26 s."""


def demo_cameras(video: Path) -> list[dict[str, Any]]:
    """The demo's camera entries: the substation door (the rendered video) and a gate camera
    whose stream is down, so the demo shows every camera alarm."""
    return [
        {"id": "cam-substation", "name": "Substation door", "source": str(video), "loop": True,
         "fps": DEMO_VIDEO_FPS, "ground_points": DEMO_MOUNT.ground_points(), "rules": {"min_score": DEMO_MIN_SCORE}},
        {"id": "cam-gate", "name": "Yard gate", "source": "rtsp://127.0.0.1:9/yard-gate", "fps": DEMO_VIDEO_FPS},
    ]


def add_demo_cameras(site: dict[str, Any], world: World, scenario: Scenario, folder: Path, duration_s: float) -> dict[str, Any]:
    """``site`` (the demo site file) with the demo cameras; renders the substation video into ``folder``."""
    video = folder / "cam-substation.avi"
    data = {**site, "cameras": demo_cameras(video)}
    camera = CameraConfig.model_validate(data["cameras"][0])
    workers = [w["id"] for w in site.get("workers", [])]
    SimCamera(camera, world, scenario, workers, DEMO_SCRIPT, seed=DEMO_SEED).write(video, duration_s, DEMO_VIDEO_FPS)
    return data

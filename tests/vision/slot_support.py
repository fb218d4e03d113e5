"""What the shadow and camera-slot tests share: signed misbehaving packages, trust, and running cameras."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_runtime.config.cameras import CameraConfig, VisionSettings
from edge_runtime.vision.detections import FrameDetections
from edge_runtime.vision.supervisor import VisionSupervisor
from tests.vision_pipeline.conftest import render_video
from tests.vision_pipeline.test_worker import PEOPLE, Events

from . import misbehaving

DEFAULT_KEY = Path(__file__).resolve().parents[2] / "models" / "camera" / "default" / "signing_key.pub"


def settings(**overrides: object) -> VisionSettings:
    """Quick restarts; the default package's key and the tests' key trusted, signatures required. Workers
    at normal priority: these tests are about update mechanics, and SCHED_IDLE workers starve while other
    jobs keep a shared test machine's cores busy."""
    keys = {"siteguard": DEFAULT_KEY.read_text().strip(), "test": misbehaving.signing_public_key().hex()}
    base: dict[str, object] = {"restart_initial_s": 0.2, "restart_max_s": 1.0, "trusted_keys": keys,
                               "worker_policy": "normal"}
    return VisionSettings.model_validate(base | overrides)


@dataclass(frozen=True)
class Packages:
    default: Path
    good: Path  # the default re-signed as a new version (the same artifacts)
    onnx: Path  # the default's ONNX artifact alone, as a new version (ONNX Runtime runs it)
    tflite: Path  # the default's TFLite artifacts alone
    blind: Path
    slow: Path
    crashing: Path


def build_packages(default: Path, root: Path) -> Packages:
    mb = misbehaving
    return Packages(
        default, mb.resigned(default, root / "good", "2.0.0-good"), mb.onnx_variant(default, root / "onnx", "2.1.0-onnx"),
        mb.resigned(default, root / "tflite", "2.2.0-tflite", formats=("tflite",)),
        mb.onnx_variant(default, root / "blind", "2.3.0-blind", mb.blind),
        mb.onnx_variant(default, root / "slow", "2.4.0-slow", mb.slow),
        mb.onnx_variant(default, root / "crashing", "2.5.0-crashing", mb.crashing),
    )


async def running(tmp: Path, default: Path, *backends: str, **overrides: object) -> tuple[VisionSupervisor, Events]:
    """One camera per back-end (``auto`` if none) on a looping video of two people, started."""
    video, _ = render_video(tmp / "yard.avi", PEOPLE)
    cameras = tuple(CameraConfig(id=f"cam{i}", source=str(video), loop=True, fps=10, model=default, backend=b)
                    for i, b in enumerate(backends or ("auto",)))
    events = Events()
    supervisor = VisionSupervisor(cameras, settings(**overrides), events.append, snapshot_dir=tmp / "snapshots")
    await supervisor.start()
    return supervisor, events


def frames(events: Events, camera: str | None = None, after_ts: float = 0.0) -> list[FrameDetections]:
    return [e for e in events if isinstance(e, FrameDetections) and e.ts > after_ts
            and (camera is None or e.camera == camera)]

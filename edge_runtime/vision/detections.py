"""What the camera path produces: detections with the lineage of the model that made them."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Detection:
    """One object in a frame; ``box`` is (x1, y1, x2, y2) in frame pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    site_xy: tuple[float, float] | None = None  # foot point in site metres, when a homography is set
    zones: tuple[str, ...] = ()  # image-space zones the foot point is in


@dataclass(slots=True)
class FrameDetections:
    """Every detection of one frame, with where it came from."""

    camera: str
    frame_id: int
    ts: float  # capture time (epoch seconds)
    width: int
    height: int
    detections: list[Detection]
    model: str
    model_version: str
    model_sha256: str
    backend: str
    inference_ms: float
    latency_ms: float  # capture -> detections ready
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class CameraStatus:
    """A camera went offline (or came back): an event for the bus and the dashboard."""

    camera: str
    online: bool
    ts: float
    reason: str = ""

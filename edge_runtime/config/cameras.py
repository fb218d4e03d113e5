"""Cameras and the vision settings shared by all of them (docs/cameras.md).

A camera is a source of frames (file, folder, stream or device), the model
package that looks at them, how its image maps onto the site (image zones that
name site zones, and/or a ground-plane homography) and the labels its rules
use. Geometry is validated here so a bad calibration fails at start-up,
naming the key, instead of silently placing people in the wrong zone.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from edge_runtime.geometry import fit_homography
from models.package import TrustedKey

from .base import ConfigError, Id, StrictModel
from .zones import SimplePolygon

Point = tuple[float, float]
DEFAULT_MODEL = Path("models/camera/default")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


class ImageZone(StrictModel):
    """A polygon in image pixels showing (part of) one site zone."""

    zone: str = Field(description="Id of the site zone this part of the image shows")
    polygon: SimplePolygon = Field(
        description="(x right, y down) pixels of the camera image: at least 3 distinct vertices, an area, "
        "no crossing edges"
    )


class GroundPoint(StrictModel):
    """One calibration pair: a pixel on the ground and where it is on site."""

    image: Point = Field(description="(x, y) pixels")
    site: Point = Field(description="(x east, y north) site metres")


class LabelRules(StrictModel):
    """Which model labels the camera rules read (defaults: the shipped camera model)."""

    person: tuple[str, ...] = Field(
        ("person",), description="Labels of a person with full PPE (the intruder rule counts all three kinds of label)"
    )
    missing_ppe: tuple[str, ...] = Field(("no_helmet", "no_vest"), description="Labels that are a person missing PPE")
    down: tuple[str, ...] = Field(("person_down",), description="Labels that are a person lying on the ground")
    min_score: float = Field(0.5, ge=0, le=1, description="Detections below this score never count towards an alarm")


class CameraConfig(StrictModel):
    """One camera: a worker process of its own runs capture and inference."""

    id: Id = Field(description="Used in alarm condition keys and snapshot names")
    name: str = ""
    position: tuple[float, float] | None = Field(None, description="(x, y) site metres of the camera on the dashboard map")
    source: int | str = Field(
        description="Video file, folder of images (name order), rtsp:// or http(s):// URL, /dev/videoN, "
        "or an integer V4L2 device index"
    )
    loop: bool = Field(False, description="Start a file or folder again at its end (demos, soak tests)")
    realtime: bool = Field(
        True, description="Play files and folders at their own frame rate like a live camera; false: "
        "as fast as the pipeline takes them (benchmarks)"
    )
    model: Path = Field(DEFAULT_MODEL, description="Model package directory or .tar archive")
    backend: Literal["auto", "litert", "onnxruntime", "tensorrt"] = "auto"
    fps: float = Field(5.0, gt=0, le=1000, description="Processing rate cap; newer frames replace unprocessed ones")
    threads: int = Field(
        1, ge=1, le=64, description="Inference threads of this camera's runtime; leave cores for decoding and the daemon "
        "(docs/cameras.md, Tuning)",
    )
    max_width: int = Field(1280, ge=64, description="Larger frames are scaled down to fit (bounds shared memory)")
    max_height: int = Field(720, ge=64)
    offline_after_s: float = Field(5.0, gt=0, description="No frame for this long = camera offline")
    zones: tuple[ImageZone, ...] = Field((), description="Image polygons, each naming the site zone it shows")
    homography: tuple[tuple[float, float, float], ...] | None = Field(
        None, description="3x3 matrix from image pixels to site metres (ground plane)"
    )
    ground_points: tuple[GroundPoint, ...] = Field(
        (), description="At least 4 (image, site) pairs to compute the homography from, instead of a matrix"
    )
    rules: LabelRules = LabelRules()
    tag_match_m: float = Field(3.0, gt=0, description="A detection's foot point this close to a tagged worker is that worker")
    min_frames: int = Field(3, ge=1, description="Consecutive frames a camera condition must be seen (and gone) to count")
    hard_example_band: tuple[float, float] = Field(
        (0.35, 0.5), description="Detections scoring within [low, high) are saved as hard examples for labelling"
    )

    @field_validator("model")
    @classmethod
    def _resolve_model(cls, v: Path) -> Path:
        """A relative path is tried from the working directory, then from where the
        project is installed, so the shipped default model works wherever the daemon starts."""
        try:
            if v.is_absolute() or v.exists():
                return v
            installed = Path(str(resources.files("models"))).parent / v
            return installed if installed.exists() else v
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise ValueError(f"cannot use this path: {exc.strerror or exc}") from None

    @field_validator("homography")
    @classmethod
    def _matrix(cls, v: tuple[tuple[float, float, float], ...] | None) -> tuple[tuple[float, float, float], ...] | None:
        if v is None:
            return v
        if len(v) != 3:
            raise ValueError("a homography is a 3x3 matrix (3 rows of 3)")
        if abs(float(np.linalg.det(np.asarray(v, dtype=np.float64)))) < 1e-12:
            raise ValueError("the homography is singular")
        return v

    @field_validator("ground_points")
    @classmethod
    def _ground(cls, v: tuple[GroundPoint, ...]) -> tuple[GroundPoint, ...]:
        if not v:
            return v
        if len(v) < 4:
            raise ValueError("at least 4 (image, site) pairs are needed")
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing fit is refused just below
            matrix = fit_homography([p.image for p in v], [p.site for p in v])  # its ValueError names the problem
        if not np.isfinite(matrix).all():
            raise ValueError("the points do not define a finite homography (coordinates too large?)")
        return v

    @field_validator("hard_example_band")
    @classmethod
    def _band(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1] <= 1:
            raise ValueError("need 0 <= low <= high <= 1")
        return v

    @model_validator(mode="after")
    def _one_calibration(self) -> CameraConfig:
        if self.homography is not None and self.ground_points:
            raise ConfigError([("ground_points", "give either homography or ground_points, not both")])
        return self

    def model_path(self) -> Path:
        """The package path; a relative one missing from the working directory is looked up
        among the packages shipped with SiteGuard (``models/camera/default``)."""
        if self.model.is_absolute() or self.model.exists():
            return self.model
        shipped = Path(str(resources.files("models"))).parent / self.model
        return shipped if shipped.exists() else self.model


class TrustedKeySpec(StrictModel):
    """A model signing key with a retirement date: how keys rotate without stranding a device."""

    key: str = Field(description="Raw Ed25519 public key as 64 hex characters")
    retired_after: datetime | None = Field(
        None, description="Packages signed by this key are refused after this time (a bare date: 00:00 UTC of that "
        "day; no zone: UTC); none: never retired")

    def trusted(self) -> TrustedKey:
        ts = None if self.retired_after is None else self.retired_after.timestamp()
        return TrustedKey(bytes.fromhex(self.key), ts)


class VisionSettings(StrictModel):
    """Settings shared by every camera: snapshots, model trust and worker supervision."""

    snapshot_dir: Path | None = Field(None, description="Where snapshots go (default: 'snapshots' beside the database)")
    snapshot_budget_bytes: int = Field(256 * 1024 * 1024, ge=0, description="Disk budget for snapshots; oldest go first")
    snapshot_interval_s: float = Field(
        5.0, ge=0, description="At most one snapshot per camera and reason (alarm, hard example) per this period"
    )
    trusted_keys: dict[str, str | TrustedKeySpec] = Field(
        default_factory=dict, description="Model signing keys: key id -> raw Ed25519 public key as 64 hex characters, "
        "or {key, retired_after} for a key being rotated out"
    )
    require_signature: bool = Field(
        True, description="With trusted_keys set, refuse model packages not signed by one of them"
    )
    restart_initial_s: float = Field(0.5, gt=0, description="First delay before restarting a dead camera worker")
    restart_max_s: float = Field(30.0, gt=0, description="Ceiling of the doubling restart delay")
    offline_after_restarts: int = Field(
        2, ge=1, description="A worker that died this many times in a row without a frame puts its camera offline"
    )
    stall_s: float = Field(15.0, gt=0, description="A running worker silent this long is killed and restarted")
    load_timeout_s: float = Field(180.0, gt=0, description="Time a worker may take to load its model (TensorRT builds)")
    worker_nice: int = Field(
        10, ge=0, le=19, description="Scheduling niceness of camera workers: under CPU contention the sensor alarm path goes first"
    )
    worker_policy: Literal["idle", "normal"] = Field(
        "idle",
        description="Linux scheduling policy of camera workers: 'idle' (SCHED_IDLE) yields the CPU at once whenever "
        "the daemon wakes for a sensor frame; 'normal' shares it by niceness only",
    )

    @field_validator("trusted_keys", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        """Each key checked here so a bad one is named (``vision.trusted_keys.<id>``), whichever form it has."""
        if not isinstance(v, dict):
            return v  # pydantic's own "not a dict" error
        problems: list[tuple[str, str]] = []
        out: dict[str, str | TrustedKeySpec] = {}
        for key_id, value in v.items():
            try:
                out[key_id] = _trusted_key(value)
            except ValueError as exc:
                problems.append((str(key_id), str(exc)))
        if problems:
            raise ConfigError(problems)
        return out

    def keys(self) -> dict[str, TrustedKey] | None:
        """Trusted keys for models.package, each with its retirement time (None when none are configured)."""
        return {k: v.trusted() if isinstance(v, TrustedKeySpec) else TrustedKey(bytes.fromhex(v))
                for k, v in self.trusted_keys.items()} or None


def _trusted_key(value: Any) -> str | TrustedKeySpec:
    """A ``"hex"`` key or a ``{key, retired_after}`` mapping, checked; ValueError says what is wrong."""
    if isinstance(value, TrustedKeySpec):
        return value
    if isinstance(value, str):
        if not _HEX_KEY.match(value):
            raise ValueError("not 64 hex characters (a raw Ed25519 public key)")
        return value
    if not isinstance(value, dict):
        raise ValueError("want 64 hex characters, or a mapping with key and retired_after")
    unknown = sorted(set(value) - {"key", "retired_after"})
    if unknown or "key" not in value:
        raise ValueError(f"want a mapping with key and retired_after (unknown: {unknown})" if unknown
                         else "the mapping has no key")
    if not isinstance(value["key"], str) or not _HEX_KEY.match(value["key"]):
        raise ValueError("key: not 64 hex characters (a raw Ed25519 public key)")
    return TrustedKeySpec(key=value["key"], retired_after=_when(value.get("retired_after")))


def _when(value: Any) -> datetime | None:
    """YAML's date or datetime, or an ISO 8601 string, as an aware datetime (UTC unless it says otherwise)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value.strip() else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"retired_after: {value!r} is not an ISO 8601 date or time") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), UTC)
    raise ValueError(f"retired_after: want a date or time, got {type(value).__name__}")

"""The ground truth of a simulated camera's video: per frame, the boxes and labels the renderer drew.

Written beside the video as ``<video>.truth.jsonl``, one JSON object per
frame in order (``{"frame": k, "t": k / fps, "boxes": [...]}``), each box
``{"label", "x1", "y1", "x2", "y2"}`` in 0..1 of the frame: the shape the
label API takes, so the demo's automatic labeller (:mod:`.autolabel`) can
send a frame's truth as it is. The boxes are those
:func:`models.camera.render.render_scene` returns for the frame: the same
boxes and labels (:func:`models.camera.scene.label_for`) the camera model's
training data has.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from models.camera.scene import Box

SUFFIX = ".truth.jsonl"


class TruthError(ValueError):
    """A sidecar that cannot be read as ground truth; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TruthBox:
    """A drawn person's box, corners in 0..1 of the frame."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def truth_path(video: Path) -> Path:
    """Where the ground truth of ``video`` lives: beside it, ``cam.avi`` -> ``cam.avi.truth.jsonl``."""
    return video.with_name(video.name + SUFFIX)


def normalised(boxes: Sequence[Box], width: int, height: int) -> tuple[TruthBox, ...]:
    """Render boxes (frame pixels) as corners in 0..1, rounded to a tenth of a pixel at 1,000 px."""
    return tuple(TruthBox(b.label, round(b.x1 / width, 4), round(b.y1 / height, 4), round(b.x2 / width, 4),
                          round(b.y2 / height, 4)) for b in boxes)


class TruthRecorder:
    """Collects each written frame's boxes, then saves them at once (a video of minutes is a few hundred lines)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self._width, self._height, self._fps = width, height, fps
        self._lines: list[str] = []

    def add(self, frame: int, boxes: Sequence[Box]) -> None:
        """The boxes of frame ``frame``, which must be the next one."""
        if frame != len(self._lines):
            raise ValueError(f"frame {frame} recorded out of order (expected {len(self._lines)})")
        entry = {"frame": frame, "t": round(frame / self._fps, 4),
                 "boxes": [b.as_dict() for b in normalised(boxes, self._width, self._height)]}
        self._lines.append(json.dumps(entry, separators=(",", ":")))

    def save(self, video: Path) -> Path:
        """Write the sidecar of ``video`` (atomically: a reader never sees half of it); returns its path."""
        path = truth_path(video)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in self._lines), encoding="utf-8")
        os.replace(tmp, path)
        return path


def read_truth(video: Path) -> list[tuple[TruthBox, ...]]:
    """The boxes of every frame of ``video``, indexed by frame; :class:`TruthError` if the sidecar is unusable."""
    path = truth_path(video)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TruthError(f"{path}: cannot read the ground truth: {exc.strerror or exc}") from None
    frames: list[tuple[TruthBox, ...]] = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if entry["frame"] != len(frames):
                raise ValueError(f"frame {entry['frame']} where {len(frames)} was due")
            frames.append(tuple(TruthBox(str(b["label"]), float(b["x1"]), float(b["y1"]), float(b["x2"]),
                                         float(b["y2"])) for b in entry["boxes"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise TruthError(f"{path}:{number}: not a ground-truth line: {exc}") from None
    return frames

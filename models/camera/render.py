"""Deterministic site scenes with ground truth: the data the default camera model learns from.

Two entry points share one pipeline (background → shadows and figures in
depth order → lighting → sensor noise): :func:`render_scene` draws the people
it is given (the demo passes its simulated workers, so video and simulation
agree) and :func:`random_scene` draws a random, label-balanced crowd for the
dataset. Everything depends only on the seed or generator passed in.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .backdrop import Background, gaussian_noise, make_background
from .figure import draw_person
from .scene import LABELS, Box, PersonSpec

MIN_VISIBLE = 0.4
"""A person cut by the frame edge keeps its box only while this share of it is inside."""
MIN_HEIGHT = 0.25
"""Random people are at least this share of the frame height: smaller, a helmet is a pixel or two at 192 px."""


def render_scene(
    people: Sequence[PersonSpec], *, width: int, height: int, seed: int, background: Background | None = None
) -> tuple[np.ndarray, list[Box]]:
    """Draw ``people`` on ``background`` (a random one from ``seed`` if None); returns (BGR image, boxes).

    ``seed`` also drives the sensor noise, so a video changes it per frame
    while keeping the background.
    """
    rng = np.random.default_rng(seed)
    bg = background if background is not None else make_background(rng, width, height)
    if bg.image.shape[:2] != (height, width):
        raise ValueError(f"background is {bg.image.shape[1]}x{bg.image.shape[0]}, frame is {width}x{height}")
    image = bg.image.copy()
    boxes: list[Box] = []
    for spec in sorted(people, key=lambda p: p.y):  # painter's order: the farther (higher up) first
        _shadow(image, spec)
        x1, y1, x2, y2 = draw_person(image, spec)
        full = max(1e-6, (x2 - x1) * (y2 - y1))
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
        if cx2 > cx1 and cy2 > cy1 and (cx2 - cx1) * (cy2 - cy1) / full >= MIN_VISIBLE:
            boxes.append(Box(spec.label, cx1, cy1, cx2, cy2))
    return _sensor(rng, _expose(image, bg)), boxes


def random_scene(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, list[Box]]:
    """A random site view with 0-6 people whose labels are drawn uniformly from :data:`LABELS`."""
    background = make_background(rng, width, height)
    count = int(rng.choice(7, p=(0.06, 0.2, 0.22, 0.2, 0.15, 0.1, 0.07)))
    people: list[PersonSpec] = []
    footprints: list[tuple[float, float, float, float]] = []
    for _ in range(count):
        label = LABELS[int(rng.integers(len(LABELS)))]
        for _attempt in range(10):
            spec = _random_person(rng, background, label, width, height)
            if spec is None:
                continue
            box = _footprint(spec)
            if all(_iou(box, other) < 0.25 for other in footprints):
                people.append(spec)
                footprints.append(box)
                break
    return render_scene(people, width=width, height=height, seed=int(rng.integers(2**31)), background=background)


def _random_person(
    rng: np.random.Generator, bg: Background, label: str, width: int, height: int
) -> PersonSpec | None:
    top = max(bg.horizon, 0.0) + 0.12 * height
    y = float(rng.uniform(top, height * 1.02))
    size = 1.75 * bg.scale_at(y) * float(rng.uniform(0.88, 1.12))
    if size < MIN_HEIGHT * height:
        return None
    down = label == "person_down"
    return PersonSpec(
        x=float(rng.uniform(0.04, 0.96) * width),
        y=y - (0.1 * size if down else 0.0),
        height=size,
        pose="down" if down else ("walking" if rng.random() < 0.5 else "standing"),
        helmet=label in ("person", "no_vest") or (down and rng.random() < 0.6),
        vest=label == "person" or (label == "no_helmet" and rng.random() < 0.5) or (down and rng.random() < 0.6),
        phase=float(rng.uniform(0, 2 * np.pi)),
        appearance=int(rng.integers(2**31)),
    )


def _footprint(spec: PersonSpec) -> tuple[float, float, float, float]:
    """A rough box for overlap checks before drawing: upright figures are tall, fallen ones wide."""
    h = spec.height
    if spec.pose == "down":
        return (spec.x - 0.5 * h, spec.y - 0.3 * h, spec.x + 0.5 * h, spec.y + 0.3 * h)
    return (spec.x - 0.2 * h, spec.y - h, spec.x + 0.2 * h, spec.y)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _shadow(image: np.ndarray, spec: PersonSpec) -> None:
    """A soft dark patch on the ground under the figure (darkens a local region in place)."""
    h = spec.height
    axes = (0.45 * h, 0.12 * h) if spec.pose == "down" else (0.16 * h, 0.035 * h)
    x1, y1 = max(0, int(spec.x - axes[0])), max(0, int(spec.y - axes[1]))
    x2, y2 = min(image.shape[1], int(spec.x + axes[0]) + 1), min(image.shape[0], int(spec.y + axes[1]) + 1)
    if x2 <= x1 or y2 <= y1:
        return
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    cv2.ellipse(mask, (int(spec.x) - x1, int(spec.y) - y1), (int(axes[0]), max(1, int(axes[1]))), 0, 0, 360, 255, -1)
    roi = image[y1:y2, x1:x2]
    roi[...] = (roi * (1.0 - 0.35 * mask[..., None] / 255.0)).astype(np.uint8)


def _expose(image: np.ndarray, bg: Background) -> np.ndarray:
    """The scene's light: exposure, colour cast, gamma and a soft fall-off across the frame."""
    h, w = image.shape[:2]
    ramp = (
        1.0 + bg.shade[0] * np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
        + bg.shade[1] * np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    )
    lit = np.clip(image.astype(np.float32) * np.asarray(bg.gain, np.float32) * ramp[..., None], 0, 255).astype(np.uint8)
    curve = (np.linspace(0.0, 1.0, 256) ** (1.0 / bg.gamma) * 255.0).astype(np.uint8)
    return cv2.LUT(lit, curve)


def _sensor(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """What a cheap site camera adds: noise, focus or motion blur, JPEG artefacts."""
    roll = rng.random(2)
    if roll[0] < 0.35:
        k = 3 if rng.random() < 0.7 else 5
        box_blur = np.full((k, k), 1.0 / (k * k), np.float32)
        blur = box_blur if rng.random() < 0.5 else _motion_kernel(k, rng.uniform(0, 180))
        image = cv2.filter2D(image, -1, blur)
    sigma = float(rng.uniform(0, 7))
    if sigma > 0.5:
        image = np.clip(image + gaussian_noise(rng, image.shape, sigma), 0, 255).astype(np.uint8)
    if roll[1] < 0.35:
        ok, data = cv2.imencode(".jpg", image, (cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))))
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        image = decoded if decoded is not None else image
    return image


def _motion_kernel(size: int, degrees: float) -> np.ndarray:
    """A straight smear of ``size`` pixels at ``degrees``: a worker or the camera moving."""
    line = np.zeros((size, size), np.float32)
    line[size // 2] = 1.0 / size
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    return cv2.warpAffine(line, cv2.getRotationMatrix2D(centre, degrees, 1.0), (size, size))

"""Static site backgrounds: textured ground in perspective, sky, and clutter.

Clutter includes deliberate hard negatives — orange cones, orange/white
barriers, yellow containers and pipes — so the detector must learn a vest on a
body and a helmet on a head, not just a hi-vis colour somewhere in the frame.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Color = tuple[int, int, int]  # BGR

GROUNDS: dict[str, Color] = {
    "gravel": (118, 124, 130), "concrete": (172, 175, 176), "dirt": (70, 98, 128), "asphalt": (72, 72, 74),
    "sand": (120, 165, 190),
}
SKIES: tuple[Color, ...] = ((235, 200, 150), (215, 215, 210), (245, 235, 225), (190, 170, 150))
CONTAINER_COLORS: tuple[Color, ...] = (
    (140, 80, 30), (40, 50, 150), (50, 110, 50), (130, 130, 125), (0, 120, 230), (20, 190, 230),
)
PIPE_COLORS: tuple[Color, ...] = ((110, 110, 110), (35, 35, 35), (0, 110, 230), (160, 100, 40), (30, 170, 210))
ORANGE: Color = (0, 110, 245)
WHITE: Color = (235, 235, 235)
_NORMAL_QUANTILES = np.sort(np.random.default_rng(0).standard_normal(1 << 14))[32::64].astype(np.float32)


def gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean noise of ``sigma`` as float32, from random bytes through a normal quantile table.

    Five times cheaper than ``standard_normal`` at frame size, and the
    256-level quantisation is invisible once added to 8-bit pixels.
    """
    return _NORMAL_QUANTILES[rng.integers(0, 256, shape, dtype=np.uint8)] * np.float32(sigma)


@dataclass(frozen=True, slots=True)
class Background:
    """A static view of the site, reused frame to frame by the demo.

    ``horizon`` is the image row of the horizon (negative when the camera looks
    down and no sky shows) and ``metre_scale`` how many pixels one metre spans
    per pixel below it, so ``scale_at(y)`` sizes a person standing at row ``y``.
    """

    image: np.ndarray
    horizon: float
    metre_scale: float
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # exposure and colour cast, per BGR channel
    gamma: float = 1.0
    shade: tuple[float, float] = (0.0, 0.0)  # light falling off across x and y (cloud, building shadow)

    def scale_at(self, y: float) -> float:
        """Pixels per metre for something standing at image row ``y``."""
        return max(1.0, (y - self.horizon) * self.metre_scale)


def make_background(rng: np.random.Generator, width: int, height: int) -> Background:
    """A random site view: ground, maybe sky and skyline, and 0-7 clutter items at perspective scale."""
    horizon = float(rng.uniform(-0.35, 0.3) * height)
    bottom_person = rng.uniform(0.35, 0.8) * height  # height of a 1.75 m person at the bottom edge
    metre_scale = bottom_person / 1.75 / (height - horizon)
    image = _ground(rng, width, height, horizon)
    if horizon > 2:
        _sky(rng, image, int(horizon))
    exposure = rng.uniform(0.55, 1.3)
    cast = rng.uniform(0.88, 1.12, 3)
    gain = (float(exposure * cast[0]), float(exposure * cast[1]), float(exposure * cast[2]))
    shade = (float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-0.3, 0.3)))
    background = Background(image, horizon, float(metre_scale), gain, float(rng.uniform(0.75, 1.35)), shade)
    items = sorted(rng.uniform(max(horizon, 0) + 0.05 * height, height * 1.1, size=int(rng.integers(0, 8))))
    for y in items:
        x = float(rng.uniform(-0.1, 1.1) * width)
        _CLUTTER[int(rng.integers(len(_CLUTTER)))](rng, image, x, float(y), background.scale_at(float(y)))
    return background


def _ground(rng: np.random.Generator, width: int, height: int, horizon: float) -> np.ndarray:
    kind = list(GROUNDS)[int(rng.integers(len(GROUNDS)))]
    base = np.array(GROUNDS[kind], np.float32) * rng.uniform(0.8, 1.15)
    blotches = rng.normal(0, 1, (height // 24 + 2, width // 24 + 2, 1)).astype(np.float32)
    coarse = cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    grain = gaussian_noise(rng, (height, width, 1), 1.0)
    tint = rng.normal(0, 4, 3).astype(np.float32)
    shades = base + tint + coarse * rng.uniform(6, 22) + grain * (10 if kind == "gravel" else rng.uniform(2, 7))
    image = np.clip(shades, 0, 255).astype(np.uint8)
    if kind == "gravel":
        _pebbles(rng, image, horizon)
    elif kind in ("concrete", "asphalt"):
        _joints(rng, image, horizon)
    elif kind == "dirt":
        _tracks(rng, image, horizon)
    return image


def _pebbles(rng: np.random.Generator, image: np.ndarray, horizon: float) -> None:
    h, w = image.shape[:2]
    for _ in range(int(w * h / 400)):
        x, y = int(rng.integers(w)), int(rng.integers(max(0, int(horizon)), h))
        r = max(1, int((y - horizon) / h * rng.uniform(1, 3)))
        shade = int(rng.integers(60, 200))
        cv2.circle(image, (x, y), r, (shade, shade + 5, shade + 10), -1)


def _joints(rng: np.random.Generator, image: np.ndarray, horizon: float) -> None:
    """Slab joints or lane marks converging on a vanishing point."""
    h, w = image.shape[:2]
    vx, dark = float(rng.uniform(0, w)), int(rng.integers(40, 90))
    for i in range(-4, 6):
        foot = (int(vx + i * w * rng.uniform(0.3, 0.45)), h)
        cv2.line(image, (int(vx), int(horizon)), foot, (dark,) * 3, 1, cv2.LINE_AA)
    y = max(horizon, 0) + 4.0
    while y < h:
        cv2.line(image, (0, int(y)), (w, int(y)), (dark,) * 3, 1, cv2.LINE_AA)
        y += max(6.0, (y - horizon) * 0.35)


def _tracks(rng: np.random.Generator, image: np.ndarray, horizon: float) -> None:
    h, w = image.shape[:2]
    x0 = float(rng.uniform(0.2, 0.8) * w)
    for dx in (-0.12, 0.12):
        top = max(horizon, 0.0)
        pts = np.array([[x0 + dx * w * t + rng.normal(0, 3), top + t * (h - top)] for t in np.linspace(0, 1.2, 8)])
        cv2.polylines(image, [pts.astype(np.int32)], False, (45, 65, 85), max(2, w // 40), cv2.LINE_AA)


def _sky(rng: np.random.Generator, image: np.ndarray, horizon: int) -> None:
    top, low = np.array(SKIES[int(rng.integers(len(SKIES)))], np.float32), np.array((220, 220, 215), np.float32)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    image[:horizon] = (top * (1 - ramp) + low * ramp).astype(np.uint8)
    w = image.shape[1]
    x = 0
    while x < w:  # a distant skyline: sheds, blocks, a crane mast
        bw, bh = int(rng.integers(w // 16, w // 4)), int(rng.uniform(0.05, 0.35) * horizon)
        shade = int(rng.integers(90, 170))
        cv2.rectangle(image, (x, horizon - bh), (x + bw, horizon), (shade + 10, shade, shade - 10), -1)
        x += bw + int(rng.integers(0, w // 8))
    if rng.random() < 0.4:
        cx = int(rng.integers(w))
        cv2.line(image, (cx, 0), (cx, horizon), (30, 150, 200), 2)
        cv2.line(image, (cx - w // 6, int(horizon * 0.1)), (cx + w // 4, int(horizon * 0.1)), (30, 150, 200), 2)


def _container(rng: np.random.Generator, image: np.ndarray, x: float, y: float, s: float) -> None:
    w, h = s * rng.uniform(2.5, 6.0), s * 2.6
    color = CONTAINER_COLORS[int(rng.integers(len(CONTAINER_COLORS)))]
    x1, y1 = int(x - w / 2), int(y - h)
    roof = tuple(min(255, c + 40) for c in color)
    cv2.rectangle(image, (x1, int(y - h - 0.3 * s)), (int(x1 + w + 0.4 * s), y1), roof, -1)
    cv2.rectangle(image, (x1, y1), (int(x1 + w), int(y)), color, -1)
    step = max(3, int(s * 0.3))
    for cx in range(x1 + step, int(x1 + w), step):
        cv2.line(image, (cx, y1 + 2), (cx, int(y) - 2), tuple(int(c * 0.7) for c in color), 1)


def _pipes(rng: np.random.Generator, image: np.ndarray, x: float, y: float, s: float) -> None:
    length, r = s * rng.uniform(2, 6), max(2.0, s * rng.uniform(0.12, 0.3))
    color = PIPE_COLORS[int(rng.integers(len(PIPE_COLORS)))]
    for i in range(int(rng.integers(1, 4))):  # a stack, each pipe on top of and behind the last
        cx, cy = int(x + 0.5 * i * r), int(y - r - 1.8 * i * r)
        cv2.line(image, (cx, cy), (int(cx + length), cy), color, int(2 * r))
        shine = tuple(min(255, c + 50) for c in color)
        cv2.line(image, (cx, int(cy - r / 2)), (int(cx + length), int(cy - r / 2)), shine, max(1, int(r / 3)))
        cv2.circle(image, (int(cx + length), cy), int(r), (40, 40, 40), -1)


def _barrier(rng: np.random.Generator, image: np.ndarray, x: float, y: float, s: float) -> None:
    w, h = s * rng.uniform(1.2, 2.5), s * 1.0
    if rng.random() < 0.5:  # concrete jersey barrier
        pts = np.array([[x, y], [x + w, y], [x + w * 0.85, y - 0.8 * s], [x + w * 0.15, y - 0.8 * s]], np.int32)
        cv2.fillConvexPoly(image, pts, (150, 152, 155))
        return
    for lx in (x + 0.1 * w, x + 0.9 * w):  # striped board on two legs
        cv2.line(image, (int(lx), int(y)), (int(lx), int(y - h)), (60, 60, 60), max(1, int(s * 0.05)))
    board = (int(x), int(y - h), int(x + w), int(y - h * 0.7))
    cv2.rectangle(image, board[:2], board[2:], WHITE, -1)
    step = max(4, int(w / 6))
    for bx in range(board[0], board[2], 2 * step):
        pts = np.array([[bx, board[3]], [bx + step, board[3]], [bx + 2 * step, board[1]], [bx + step, board[1]]],
                       np.int32)
        cv2.fillConvexPoly(image, pts, ORANGE if rng.random() < 0.7 else (40, 40, 200))
    cv2.rectangle(image, board[:2], (min(board[2], image.shape[1] - 1), board[3]), WHITE, 0)


def _cone(rng: np.random.Generator, image: np.ndarray, x: float, y: float, s: float) -> None:
    h, w = s * 0.7, s * 0.35
    cv2.rectangle(image, (int(x - w * 0.7), int(y - 0.06 * s)), (int(x + w * 0.7), int(y)), (30, 30, 30), -1)
    base = y - 0.05 * s
    pts = np.array([[x - w / 2, base], [x + w / 2, base], [x + w * 0.08, y - h], [x - w * 0.08, y - h]], np.int32)
    cv2.fillConvexPoly(image, pts, ORANGE)
    band = int(y - h * 0.55)
    cv2.line(image, (int(x - w * 0.28), band), (int(x + w * 0.28), band), WHITE, max(1, int(s * 0.08)))


def _pallet(rng: np.random.Generator, image: np.ndarray, x: float, y: float, s: float) -> None:
    w, h = s * 1.2, s * rng.uniform(0.15, 1.2)
    color = (60, 110, 150) if rng.random() < 0.6 else (200, 200, 195)  # timber, or wrapped sacks
    cv2.rectangle(image, (int(x), int(y - h)), (int(x + w), int(y)), color, -1)
    for k in range(1, 4):
        yy = int(y - h * k / 4)
        cv2.line(image, (int(x), yy), (int(x + w), yy), tuple(int(c * 0.7) for c in color), 1)


_CLUTTER: tuple[Callable[[np.random.Generator, np.ndarray, float, float, float], None], ...] = (
    _container, _pipes, _barrier, _cone, _cone, _pallet,
)

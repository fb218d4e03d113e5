"""Articulated worker figures: legs, torso, arms and head, with or without hard hat and hi-vis vest.

A figure is built in a local frame (units of standing height, origin between
the feet, y pointing down) as a list of primitives, then mapped to the frame by
one affine transform: a slight tilt when upright, a quarter turn plus ground
foreshortening when down. The same primitives give the exact box, so labels
never disagree with pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .scene import PersonSpec

Color = tuple[int, int, int]  # BGR

HELMET_COLORS: tuple[Color, ...] = ((0, 205, 250), (235, 235, 232), (0, 125, 255), (190, 95, 25))
VEST_COLORS: tuple[Color, ...] = ((0, 250, 215), (20, 235, 240), (0, 135, 255), (10, 100, 250))
SHIRT_COLORS: tuple[Color, ...] = (
    (80, 40, 20), (120, 120, 120), (40, 80, 40), (40, 70, 110),
    (30, 30, 30), (140, 90, 50), (40, 30, 110), (205, 205, 200),
)
TROUSER_COLORS: tuple[Color, ...] = ((70, 35, 20), (28, 28, 28), (110, 160, 180), (130, 85, 45), (90, 90, 90))
SKIN_COLORS: tuple[Color, ...] = ((60, 90, 140), (90, 135, 190), (120, 165, 220), (40, 60, 95), (150, 190, 235))
HAIR_COLORS: tuple[Color, ...] = ((20, 20, 20), (30, 50, 80), (45, 95, 140), (105, 105, 110))  # no helmet look-alikes
BEANIE_COLORS: tuple[Color, ...] = ((25, 25, 25), (70, 35, 20), (90, 90, 90), (40, 30, 100))
STRIPE: Color = (215, 215, 210)
BOOT: Color = (25, 30, 35)


@dataclass(frozen=True, slots=True)
class Look:
    """A worker's clothing, skin and build, stable for one ``appearance`` seed."""

    skin: Color
    shirt: Color
    trousers: Color
    hair: Color | None  # None: bald
    beanie: Color | None  # a knit hat: a hard negative for the helmet
    helmet: Color
    vest: Color
    long_sleeves: bool
    build: float  # width factor: broad shoulders or turned sideways
    tilt: float  # radians, how the figure leans when upright
    down_angle: float  # radians from upright when lying down
    foreshorten: float  # how flat a lying body looks from a raised camera


def look_for(appearance: int) -> Look:
    """Draw a look from its seed (the demo keeps one per simulated worker)."""
    rng = np.random.default_rng(appearance)

    def pick(options: tuple[Color, ...]) -> Color:
        return options[int(rng.integers(len(options)))]

    side = 1.0 if rng.random() < 0.5 else -1.0
    return Look(
        skin=pick(SKIN_COLORS),
        shirt=pick(SHIRT_COLORS),
        trousers=pick(TROUSER_COLORS),
        hair=None if rng.random() < 0.15 else pick(HAIR_COLORS),
        beanie=pick(BEANIE_COLORS) if rng.random() < 0.2 else None,
        helmet=pick(HELMET_COLORS),
        vest=pick(VEST_COLORS),
        long_sleeves=bool(rng.random() < 0.6),
        build=float(rng.uniform(0.7, 1.1)),
        tilt=float(rng.normal(0.0, 0.04)),
        down_angle=side * float(rng.uniform(1.2, 1.95)),
        foreshorten=float(rng.uniform(0.55, 0.9)),
    )


@dataclass(frozen=True, slots=True)
class _Prim:
    """One drawing primitive in the local frame: a filled polygon, a thick polyline or a disc."""

    kind: str  # "poly" | "line" | "disc"
    points: np.ndarray  # (k, 2) local coordinates
    color: Color
    width: float = 0.0  # line thickness or disc radius, local units


def _limb(start: np.ndarray, first: float, second: float, lengths: tuple[float, float]) -> np.ndarray:
    """A two-segment limb hanging from ``start``; angles in radians from straight down."""
    mid = start + lengths[0] * np.array([math.sin(first), math.cos(first)])
    end = mid + lengths[1] * np.array([math.sin(second), math.cos(second)])
    return np.stack([start, mid, end])


def _skeleton(spec: PersonSpec, look: Look) -> dict[str, np.ndarray]:
    """Joint positions for the pose: a gait cycle when walking, a loose sprawl when down.

    Angles are radians from straight down, positive towards +x; a walking
    figure is seen side-on (legs and arms swing in opposition).
    """
    s = math.sin(spec.phase)
    if spec.pose == "walking":
        legs, knees, arms = (0.42 * s, -0.42 * s), (0.35 * max(0.0, -s), 0.35 * max(0.0, s)), (-0.35 * s, 0.35 * s)
    elif spec.pose == "down":
        spread = 0.25 + 0.9 * abs(math.sin(1.7 * spec.phase + spec.appearance))
        legs, knees, arms = (-0.08 - 0.05 * s, 0.08 + 0.05 * s), (0.0, 0.0), (-spread, spread)
    else:
        legs, knees, arms = (-0.04, 0.04), (0.0, 0.0), (-0.12 - 0.03 * s, 0.12 + 0.03 * s)
    b = look.build
    hips = (np.array([-0.06 * b, -0.5]), np.array([0.06 * b, -0.5]))
    shoulders = (np.array([-0.12 * b, -0.81]), np.array([0.12 * b, -0.81]))
    return {
        "leg_l": _limb(hips[0], legs[0], legs[0] - knees[0], (0.25, 0.25)),
        "leg_r": _limb(hips[1], legs[1], legs[1] - knees[1], (0.25, 0.25)),
        "arm_l": _limb(shoulders[0], arms[0], 0.7 * arms[0], (0.16, 0.15)),
        "arm_r": _limb(shoulders[1], arms[1], 0.7 * arms[1], (0.16, 0.15)),
        "shoulders": np.stack(shoulders),
        "hips": np.stack(hips),
        "head": np.array([0.0, -0.925]),
    }


def _primitives(spec: PersonSpec, look: Look) -> list[_Prim]:
    """The figure back to front: legs, torso, vest, arms, head, then hair, hat or helmet."""
    sk = _skeleton(spec, look)
    b = look.build
    prims: list[_Prim] = []
    for leg in ("leg_l", "leg_r"):
        prims.append(_Prim("line", sk[leg], look.trousers, 0.075 * b))
        prims.append(_Prim("disc", sk[leg][2:] + np.array([[0.0, -0.01]]), BOOT, 0.04))
    (sl, sr), (hl, hr) = sk["shoulders"], sk["hips"]
    torso = np.array([sl + [-0.01, -0.02], sr + [0.01, -0.02], hr + [0.025, 0.0], hl + [-0.025, 0.0]])
    prims.append(_Prim("poly", torso, look.shirt))
    prims.append(_Prim("line", np.array([[0.0, -0.86], [0.0, -0.82]]), look.skin, 0.05))
    if spec.vest:
        top, bottom = -0.83, -0.53
        half_top, half_bottom = 0.12 * b + 0.005, 0.085 * b + 0.02
        vest = np.array([
            [-half_top, top], [-0.035, top], [0.0, -0.73], [0.035, top], [half_top, top],
            [half_bottom, bottom], [-half_bottom, bottom],
        ])
        prims.append(_Prim("poly", vest, look.vest))
        for y in (-0.645, -0.585):
            half = half_bottom + (half_top - half_bottom) * (y - bottom) / (top - bottom)
            prims.append(_Prim("line", np.array([[-half, y], [half, y]]), STRIPE, 0.02))
    for arm in ("arm_l", "arm_r"):
        joints = sk[arm]
        if not look.long_sleeves:
            prims.append(_Prim("line", joints[1:], look.skin, 0.045))
        prims.append(_Prim("line", joints if look.long_sleeves else joints[:2], look.shirt, 0.055))
        prims.append(_Prim("disc", joints[2:], look.skin, 0.028))
    head, r = sk["head"], 0.068
    prims.append(_Prim("disc", head[None], look.skin, r))
    if spec.helmet:
        angles = np.linspace(math.pi, 2 * math.pi, 9)
        dome = head + np.stack([1.3 * r * np.cos(angles), 1.3 * r * np.sin(angles)], axis=1) + [0.0, -0.3 * r]
        prims.append(_Prim("poly", dome, look.helmet))  # a hard hat stands well proud of the skull
        brim = np.array([[-1.7 * r, -0.25 * r], [1.7 * r, -0.25 * r]]) + head
        prims.append(_Prim("line", brim, look.helmet, 0.3 * r))
        prims.append(_Prim("disc", (head + [-0.45 * r, -1.1 * r])[None], _lighter(look.helmet), 0.25 * r))
    elif look.beanie is not None:
        angles = np.linspace(math.pi, 2 * math.pi, 7)
        cap = head + np.stack([1.02 * r * np.cos(angles), 0.9 * r * np.sin(angles)], axis=1) + [0.0, -0.2 * r]
        prims.append(_Prim("poly", cap, look.beanie))
    elif look.hair is not None:
        angles = np.linspace(math.pi * 1.05, math.pi * 1.95, 7)
        hair = head + np.stack([1.02 * r * np.cos(angles), 1.02 * r * np.sin(angles)], axis=1)
        prims.append(_Prim("poly", np.vstack([hair, head + [0.0, -0.2 * r]]), look.hair))
    return prims


def _lighter(color: Color) -> Color:
    return tuple(min(255, int(c * 0.5 + 140)) for c in color)  # type: ignore[return-value]


def _transform(spec: PersonSpec, look: Look) -> np.ndarray:
    """The 2x3 affine map from the local frame to frame pixels."""
    h = spec.height
    if spec.pose == "down":
        a = look.down_angle
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        lin = np.diag([1.0, look.foreshorten]) @ rot * h
        offset = np.array([spec.x, spec.y]) - lin @ np.array([0.0, -0.5])
    else:
        a = look.tilt
        lin = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * h
        offset = np.array([spec.x, spec.y])
    return np.hstack([lin, offset[:, None]])


def draw_person(image: np.ndarray, spec: PersonSpec) -> tuple[float, float, float, float]:
    """Draw ``spec`` onto ``image`` (in place); returns its full-extent box (x1, y1, x2, y2), unclipped."""
    look = look_for(spec.appearance)
    m = _transform(spec, look)
    scale = float(math.sqrt(abs(np.linalg.det(m[:, :2]))))
    lo, hi = np.array([np.inf, np.inf]), np.array([-np.inf, -np.inf])
    for prim in _primitives(spec, look):
        pts = prim.points @ m[:, :2].T + m[:, 2]
        radius = prim.width * scale / 2 if prim.kind == "line" else prim.width * scale
        lo, hi = np.minimum(lo, pts.min(axis=0) - radius), np.maximum(hi, pts.max(axis=0) + radius)
        ipts = np.round(pts * 16).astype(np.int32)  # 4 fractional bits: smooth at small sizes
        if prim.kind == "poly":
            cv2.fillPoly(image, [ipts], prim.color, cv2.LINE_AA, shift=4)
        elif prim.kind == "line":
            cv2.polylines(image, [ipts], False, prim.color, max(1, round(prim.width * scale)), cv2.LINE_AA, shift=4)
        else:
            cv2.circle(image, tuple(ipts[0]), max(16, round(radius * 16)), prim.color, -1, cv2.LINE_AA, shift=4)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

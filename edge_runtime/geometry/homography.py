"""The ground-plane homography: image pixels <-> site metres, and foot points.

A person stands where the bottom centre of their box touches the ground, so
that point (not the box centre) is what zone tests and the homography take.
The homography is fitted once (cv2.findHomography, least squares over every
pair) and applied with numpy. Pure math: config validates calibrations with
it, vision places detections with it and the simulator renders with it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

Point = tuple[float, float]
Box = tuple[float, float, float, float]


class GroundPair(Protocol):
    """One calibration pair (``config.cameras.GroundPoint`` is one)."""

    @property
    def image(self) -> Point: ...

    @property
    def site(self) -> Point: ...


class Calibration(Protocol):
    """A camera's ground-plane calibration (``config.cameras.CameraConfig`` is one)."""

    @property
    def homography(self) -> Sequence[Sequence[float]] | None: ...

    @property
    def ground_points(self) -> Sequence[GroundPair]: ...


def foot_point(box: Box) -> Point:
    """Bottom centre of an (x1, y1, x2, y2) box: where the person touches the ground."""
    x1, _y1, x2, y2 = box
    return (x1 + x2) / 2.0, max(_y1, y2)


def fit_homography(image: Sequence[Point], site: Sequence[Point]) -> np.ndarray:
    """The 3x3 image -> site matrix from >= 4 pairs; ValueError when they do not define one."""
    if len(image) != len(site) or len(image) < 4:
        raise ValueError("need at least 4 (image, site) pairs")
    src = np.asarray(image, dtype=np.float64)
    dst = np.asarray(site, dtype=np.float64)
    for name, pts in (("image", src), ("site", dst)):
        centred = pts - pts.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, float(np.abs(centred).max()))) < 2:
            raise ValueError(f"the {name} points are collinear")
    import cv2

    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None or abs(np.linalg.det(matrix)) < 1e-12:
        raise ValueError("the points do not define a homography (three of them collinear?)")
    return matrix


class Homography:
    """Image pixels <-> site metres on the ground plane."""

    __slots__ = ("inverse", "matrix")

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
        self.inverse = np.linalg.inv(self.matrix)

    @classmethod
    def of(cls, camera: Calibration) -> Homography | None:
        """The camera's homography (given or fitted from its ground points), or None."""
        if camera.homography is not None:
            return cls(np.asarray(camera.homography))
        if camera.ground_points:
            return cls(fit_homography([p.image for p in camera.ground_points], [p.site for p in camera.ground_points]))
        return None

    def to_site(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) site metres."""
        return _apply(self.matrix, points)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) site metres -> (N, 2) pixels (the simulator renders with this)."""
        return _apply(self.inverse, points)

    def scale_at(self, site_xy: Point) -> float:
        """Pixels per metre across the line of sight at a ground point (the larger singular value
        of the local site -> image Jacobian): how many pixels an upright person there spans per metre."""
        x, y = site_xy
        d = 0.05
        p = self.to_image(np.array([[x, y], [x + d, y], [x, y + d]]))
        jacobian = np.column_stack(((p[1] - p[0]) / d, (p[2] - p[0]) / d))
        return float(np.linalg.svd(jacobian, compute_uv=False)[0])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h = pts @ matrix[:, :2].T + matrix[:, 2]
    return h[:, :2] / h[:, 2:3]

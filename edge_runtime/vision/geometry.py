"""Image geometry of a camera: foot points, image zones and the ground-plane homography.

A person stands where the bottom centre of their box touches the ground, so
that point (not the box centre) is what zone tests and the homography take.
Image zones use the same polygon test as site zones (fusion.geo.Polygon).
The homography maps image pixels on the ground plane to site metres; it is
fitted once (cv2.findHomography, least squares over every pair) and applied
with numpy.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_runtime.config.cameras import CameraConfig
from edge_runtime.fusion.geo import Polygon

from .detections import Detection

Point = tuple[float, float]
Box = tuple[float, float, float, float]


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
    def of(cls, camera: CameraConfig) -> Homography | None:
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


class ImageZones:
    """The camera's image polygons; which site zones an image point is in."""

    def __init__(self, camera: CameraConfig) -> None:
        self._zones = [(z.zone, Polygon(z.polygon)) for z in camera.zones]

    def __bool__(self) -> bool:
        return bool(self._zones)

    def at(self, point: Point) -> tuple[str, ...]:
        """Site zone ids whose image polygon contains ``point`` (each once, config order)."""
        x, y = point
        return tuple(dict.fromkeys(zone for zone, poly in self._zones if poly.contains(x, y)))


class Locator:
    """Puts each detection on the site: image zones of its foot point and, with a homography, site metres."""

    def __init__(self, camera: CameraConfig) -> None:
        self._zones = ImageZones(camera)
        self._homography = Homography.of(camera)

    def place(self, detections: list[Detection]) -> None:
        if not detections:
            return
        feet = [foot_point(d.box) for d in detections]
        if self._zones:
            for d, foot in zip(detections, feet, strict=True):
                d.zones = self._zones.at(foot)
        if self._homography is not None:
            for d, (x, y) in zip(detections, self._homography.to_site(np.asarray(feet)), strict=True):
                d.site_xy = (round(float(x), 3), round(float(y), 3))

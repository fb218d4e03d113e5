"""Where a camera's detections are: image zones of their foot points and site metres.

Image zones use the same polygon test as site zones (geometry.Polygon); the
ground-plane homography and foot points are pure math in
:mod:`edge_runtime.geometry.homography`.
"""
from __future__ import annotations

import numpy as np

from edge_runtime.config.cameras import CameraConfig
from edge_runtime.geometry import Homography, Point, Polygon, foot_point

from .detections import Detection


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

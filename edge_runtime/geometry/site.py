"""Site geometry: GPS lat/lon to site metres, and polygons with signed distances.

A site spans at most a few kilometres, so a local east-north frame tangent at
the site origin (equirectangular with the WGS-84 radii of curvature at the
origin latitude) is accurate to centimetres there and costs two multiplies per
fix, where a full geodetic transform would cost the alarm path microseconds.
"""
from __future__ import annotations

import math

_WGS84_A = 6378137.0  # semi-major axis, metres
_WGS84_E2 = 6.69437999014e-3  # first eccentricity squared
_DEPTH_GRID = 24  # samples per axis when estimating a polygon's deepest interior point


class LocalFrame:
    """East/north metres from the site origin (``SiteInfo.origin_lat/lon``)."""

    __slots__ = ("_lat0", "_lon0", "_m_per_deg_lat", "_m_per_deg_lon")

    def __init__(self, origin_lat: float, origin_lon: float) -> None:
        phi = math.radians(origin_lat)
        w = math.sqrt(1.0 - _WGS84_E2 * math.sin(phi) ** 2)
        meridian = _WGS84_A * (1.0 - _WGS84_E2) / w**3  # north-south radius of curvature
        normal = _WGS84_A / w  # east-west (prime vertical) radius of curvature
        self._lat0 = origin_lat
        self._lon0 = origin_lon
        self._m_per_deg_lat = math.radians(1.0) * meridian
        self._m_per_deg_lon = math.radians(1.0) * normal * math.cos(phi)

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        """(x east, y north) in metres; longitudes wrap across the antimeridian."""
        dlon = lon - self._lon0
        if dlon > 180.0:
            dlon -= 360.0
        elif dlon < -180.0:
            dlon += 360.0
        return dlon * self._m_per_deg_lon, (lat - self._lat0) * self._m_per_deg_lat

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        """Inverse of :meth:`to_xy` (dashboards, simulators and tests place points in metres)."""
        return self._lat0 + y / self._m_per_deg_lat, self._lon0 + x / self._m_per_deg_lon


class Polygon:
    """A simple polygon in site metres with point-in-polygon and edge distance.

    ``bbox_gap`` is a cheap lower bound of the distance to the polygon for
    points outside its bounding box, so most zones far from a fix cost one
    comparison; ``max_depth`` (how deep the deepest interior point is) lets a
    geofence keep its entry margin achievable in zones smaller than a GPS error.
    """

    __slots__ = ("_edges", "min_x", "min_y", "max_x", "max_y", "max_depth")

    def __init__(self, points: tuple[tuple[float, float], ...] | list[tuple[float, float]]) -> None:
        if len(points) < 3:
            raise ValueError("a polygon needs at least 3 points")
        pts = [(float(x), float(y)) for x, y in points]
        if pts[0] == pts[-1]:
            pts.pop()  # closed ring written out in full
        self._edges: tuple[tuple[float, float, float, float, float], ...] = tuple(
            (x1, y1, x2 - x1, y2 - y1, (x2 - x1) ** 2 + (y2 - y1) ** 2)
            for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True)
        )
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        self.min_x, self.max_x, self.min_y, self.max_y = min(xs), max(xs), min(ys), max(ys)
        self.max_depth = self._estimate_max_depth()

    def bbox_gap(self, x: float, y: float) -> float:
        """Distance from (x, y) to the bounding box; 0 inside it."""
        dx = max(self.min_x - x, 0.0, x - self.max_x)
        dy = max(self.min_y - y, 0.0, y - self.max_y)
        if dx == 0.0:
            return dy
        if dy == 0.0:
            return dx
        return math.hypot(dx, dy)

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting (points exactly on an edge may fall either way)."""
        inside = False
        for x1, y1, dx, dy, _ in self._edges:
            y2 = y1 + dy
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * dx / dy:
                inside = not inside
        return inside

    def edge_distance(self, x: float, y: float) -> float:
        """Shortest distance from (x, y) to the polygon's boundary."""
        best = math.inf
        for x1, y1, dx, dy, len2 in self._edges:
            px, py = x - x1, y - y1
            t = (px * dx + py * dy) / len2 if len2 else 0.0
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
            ex, ey = px - t * dx, py - t * dy
            d2 = ex * ex + ey * ey
            if d2 < best:
                best = d2
        return math.sqrt(best)

    def signed_distance(self, x: float, y: float) -> float:
        """Depth inside the polygon (positive) or distance outside it (negative)."""
        d = self.edge_distance(x, y)
        return d if self.contains(x, y) else -d

    def _estimate_max_depth(self) -> float:
        """Grid estimate of the deepest interior point (done once per zone at start-up)."""
        best = 0.0
        w, h = self.max_x - self.min_x, self.max_y - self.min_y
        for i in range(_DEPTH_GRID + 1):
            for j in range(_DEPTH_GRID + 1):
                d = self.signed_distance(self.min_x + w * i / _DEPTH_GRID, self.min_y + h * j / _DEPTH_GRID)
                best = max(best, d)
        return best

"""Whether a list of vertices is a usable zone: a simple ring that encloses an area.

Even-odd point-in-polygon (:meth:`.site.Polygon.contains`) on a ring that
crosses itself leaves holes where its edges cross, and a ring with no area
contains nothing: either way a zone's alarms would not fire where the site
engineer drew it. Config refuses such rings at start-up with this check.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]
_LIMIT = 1e12  # |coordinate| bound: products of differences (edge lengths, turns) stay finite
_FLAT = 1e-12  # off-line distance times length, relative to the squared extent, below which points are collinear


def polygon_problem(points: Sequence[Sequence[float]]) -> str | None:
    """Why ``points`` (in order, optionally closed) is not a simple polygon with an area; None if it is."""
    ring = _ring(points)
    if not all(math.isfinite(c) and abs(c) <= _LIMIT for p in ring for c in p):
        return f"every vertex needs finite coordinates within ±{_LIMIT:.0e}"
    if len(set(ring)) < 3:
        return "a polygon needs at least 3 distinct vertices"
    if _collinear(ring):
        return "the polygon has zero area (its vertices are collinear)"
    crossing = _crossing(ring)
    if crossing is not None:
        (a, b), (c, d) = crossing
        return f"the polygon crosses or touches itself: edge {_fmt(a)}-{_fmt(b)} meets edge {_fmt(c)}-{_fmt(d)}"
    return None


def _ring(points: Sequence[Sequence[float]]) -> list[Point]:
    """Vertices as floats without repeats in a row (a closing vertex equal to the first is one)."""
    ring: list[Point] = []
    for x, y in points:
        p = (float(x), float(y))
        if not ring or ring[-1] != p:
            ring.append(p)
    while len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    return ring


def _collinear(ring: list[Point]) -> bool:
    """Whether every vertex lies on one line. (A ring that is not, and does not cross itself,
    has an area; the signed area alone cannot tell, as a symmetric bow tie's is 0 too.)"""
    a = ring[0]
    b = max(ring, key=lambda p: math.dist(a, p))
    length2 = math.dist(a, b) ** 2
    return all(abs(_orient(a, b, p)) <= _FLAT * length2 for p in ring)


def _orient(a: Point, b: Point, c: Point) -> float:
    """> 0 when a, b, c turn left, < 0 right, 0 collinear."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _within(a: Point, b: Point, p: Point) -> bool:
    """Whether p, collinear with segment a-b, lies on it."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments a-b and c-d share any point (crossing, touching or overlapping)."""
    d1, d2, d3, d4 = _orient(c, d, a), _orient(c, d, b), _orient(a, b, c), _orient(a, b, d)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return ((d1 == 0 and _within(c, d, a)) or (d2 == 0 and _within(c, d, b))
            or (d3 == 0 and _within(a, b, c)) or (d4 == 0 and _within(a, b, d)))


def _crossing(ring: list[Point]) -> tuple[tuple[Point, Point], tuple[Point, Point]] | None:
    """Two edges that meet other than at the vertex adjacent edges share, or None.

    Edges are swept in order of their left end, so only pairs whose x ranges
    overlap are compared: close to linear for the shapes zones have.
    """
    n = len(ring)
    edges = [(ring[i], ring[(i + 1) % n]) for i in range(n)]
    for i, ((a, b), (_, c)) in enumerate(zip(edges, edges[1:] + edges[:1], strict=True)):
        if _orient(a, b, c) == 0 and (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]) < 0:
            return edges[i], edges[(i + 1) % n]  # a spike: the ring turns back along itself
    order = sorted(range(n), key=lambda k: min(edges[k][0][0], edges[k][1][0]))
    for pos, i in enumerate(order):
        (a, b) = edges[i]
        right = max(a[0], b[0])
        for j in order[pos + 1:]:
            (c, d) = edges[j]
            if min(c[0], d[0]) > right:
                break
            if (j - i) % n in (1, n - 1):
                continue  # neighbours share a vertex by construction
            if _segments_meet(a, b, c, d):
                return edges[min(i, j)], edges[max(i, j)]
    return None


def _fmt(p: Point) -> str:
    return f"({p[0]:g}, {p[1]:g})"

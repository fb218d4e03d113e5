"""Local site frame and polygon geometry."""
from __future__ import annotations

import math

import pytest

from edge_runtime.geometry import LocalFrame, Polygon


@pytest.mark.parametrize(
    ("lat", "m_per_deg_lat", "m_per_deg_lon"),
    [(0.0, 110_574.0, 111_320.0), (45.0, 111_132.0, 78_847.0), (60.0, 111_412.0, 55_800.0)],
)
def test_metres_per_degree_match_the_wgs84_tables(lat: float, m_per_deg_lat: float, m_per_deg_lon: float) -> None:
    frame = LocalFrame(lat, 10.0)
    x, y = frame.to_xy(lat + 0.01, 10.01)
    assert y == pytest.approx(m_per_deg_lat * 0.01, abs=0.5)
    assert x == pytest.approx(m_per_deg_lon * 0.01, abs=0.5)


def test_round_trip_and_origin() -> None:
    frame = LocalFrame(51.5, 7.45)
    assert frame.to_xy(51.5, 7.45) == (0.0, 0.0)
    for x, y in [(123.4, -56.7), (-900.0, 1500.0), (0.01, 0.02)]:
        lat, lon = frame.to_latlon(x, y)
        assert frame.to_xy(lat, lon) == pytest.approx((x, y), abs=1e-6)


def test_a_kilometre_east_agrees_with_great_circle_distance() -> None:
    frame = LocalFrame(51.5, 7.45)
    lat, lon = frame.to_latlon(1000.0, 0.0)
    # haversine on the sphere of the local prime-vertical radius at 51.5 deg
    n = 6378137.0 / math.sqrt(1 - 6.69437999014e-3 * math.sin(math.radians(51.5)) ** 2)
    dlon = math.radians(lon - 7.45)
    d = 2 * n * math.asin(math.cos(math.radians(51.5)) * math.sin(dlon / 2))
    assert d == pytest.approx(1000.0, abs=0.01)
    assert lat == pytest.approx(51.5)


def test_longitude_wraps_across_the_antimeridian() -> None:
    frame = LocalFrame(-16.5, 179.9995)
    x, _ = frame.to_xy(-16.5, -179.9995)
    assert 100 < x < 110  # 0.001 deg east, not 360 deg west


SQUARE = Polygon([(0, 0), (40, 0), (40, 40), (0, 40)])
L_SHAPE = Polygon([(0, 0), (30, 0), (30, 10), (10, 10), (10, 30), (0, 30)])


def test_point_in_polygon_including_concave_shapes() -> None:
    assert SQUARE.contains(20, 20)
    assert not SQUARE.contains(41, 20)
    assert L_SHAPE.contains(5, 25)
    assert L_SHAPE.contains(25, 5)
    assert not L_SHAPE.contains(20, 20)  # the notch


def test_signed_distance_is_depth_inside_and_negative_outside() -> None:
    assert SQUARE.signed_distance(20, 20) == pytest.approx(20)
    assert SQUARE.signed_distance(35, 20) == pytest.approx(5)
    assert SQUARE.signed_distance(45, 20) == pytest.approx(-5)
    assert SQUARE.signed_distance(43, 44) == pytest.approx(-5)  # nearest is the corner
    assert L_SHAPE.signed_distance(20, 20) == pytest.approx(-10)


def test_bbox_gap_is_a_lower_bound_of_the_outside_distance() -> None:
    assert SQUARE.bbox_gap(20, 20) == 0.0
    assert SQUARE.bbox_gap(50, 20) == pytest.approx(10)
    assert SQUARE.bbox_gap(43, 44) == pytest.approx(5)
    assert L_SHAPE.bbox_gap(20, 20) == 0.0 < -L_SHAPE.signed_distance(20, 20)


def test_max_depth_and_closed_rings() -> None:
    assert SQUARE.max_depth == pytest.approx(20)
    closed = Polygon([(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)])
    assert closed.max_depth == pytest.approx(2)
    assert closed.signed_distance(2, 1) == pytest.approx(1)
    with pytest.raises(ValueError):
        Polygon([(0, 0), (1, 1)])

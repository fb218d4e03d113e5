"""Foot points, image zones and the image -> site homography."""
from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.config import ConfigError, parse_config
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.geometry import Homography, fit_homography, foot_point
from edge_runtime.vision.geometry import ImageZones

# a camera looking down at a 20 m x 15 m patch: (0, 0) px is site (0, 15), 640x480 px is (20, 0)
IMAGE = [(0.0, 0.0), (640.0, 0.0), (640.0, 480.0), (0.0, 480.0), (320.0, 240.0)]
SITE = [(0.0, 15.0), (20.0, 15.0), (20.0, 0.0), (0.0, 0.0), (10.0, 7.5)]
SITE_FILE = {"site": {"id": "s", "origin_lat": 51.9, "origin_lon": 4.4},
             "zones": [{"id": "pit", "hazard": "restricted", "polygon": [[0, 0], [5, 0], [5, 5], [0, 5]]}]}


def test_foot_point_is_the_bottom_centre() -> None:
    assert foot_point((10, 20, 30, 120)) == (20, 120)


def test_homography_from_ground_points_maps_pixels_to_metres_and_back() -> None:
    h = Homography(fit_homography(IMAGE, SITE))
    site = h.to_site(np.array([[320.0, 480.0], [160.0, 120.0]]))
    assert np.allclose(site, [[10.0, 0.0], [5.0, 11.25]], atol=1e-6)
    assert np.allclose(h.to_image(site), [[320.0, 480.0], [160.0, 120.0]], atol=1e-6)
    assert h.scale_at((10.0, 7.5)) == pytest.approx(32.0)


def test_perspective_homography_round_trip() -> None:
    matrix = np.array([[0.05, 0.01, -3.0], [0.002, -0.08, 30.0], [0.0001, 0.002, 1.0]])
    h = Homography(matrix)
    pts = np.array([[100.0, 400.0], [500.0, 300.0]])
    refit = Homography(fit_homography([tuple(p) for p in np.vstack([pts, [[0, 0], [600, 450]]])],
                                      [tuple(p) for p in h.to_site(np.vstack([pts, [[0, 0], [600, 450]]]))]))
    assert np.allclose(refit.to_site(pts), h.to_site(pts), atol=1e-6)


def test_collinear_ground_points_are_refused_naming_the_key() -> None:
    bad = [{"image": [i * 10, i * 10], "site": [i, i]} for i in range(4)]
    with pytest.raises(ConfigError) as err:
        parse_config({**SITE_FILE, "cameras": [{"id": "c", "source": "x.avi", "ground_points": bad}]})
    assert any(key.startswith("cameras.0") and "collinear" in msg for key, msg in err.value.problems)


def test_camera_zones_must_name_site_zones() -> None:
    zone = {"zone": "nowhere", "polygon": [[0, 0], [10, 0], [10, 10]]}
    with pytest.raises(ConfigError) as err:
        parse_config({**SITE_FILE, "cameras": [{"id": "c", "source": "x.avi", "zones": [zone]}]})
    assert ("cameras.0.zones.0.zone", "unknown zone 'nowhere'") in err.value.problems


def test_image_zones_name_the_site_zones_a_point_is_in() -> None:
    cam = CameraConfig(id="c", source="x.avi", zones=(
        {"zone": "pit", "polygon": ((0, 0), (100, 0), (100, 100), (0, 100))},
        {"zone": "yard", "polygon": ((0, 0), (640, 0), (640, 480), (0, 480))},
    ))
    zones = ImageZones(cam)
    assert zones.at((50, 50)) == ("pit", "yard")
    assert zones.at((300, 300)) == ("yard",)
    assert zones.at((700, 300)) == ()


def test_homography_or_ground_points_not_both() -> None:
    points = [{"image": i, "site": s} for i, s in zip(IMAGE, SITE)]
    with pytest.raises(ValueError, match="not both"):
        CameraConfig(id="c", source="x", homography=((1, 0, 0), (0, 1, 0), (0, 0, 1)), ground_points=points)
    cam = CameraConfig(id="c", source="x", ground_points=points)
    assert Homography.of(cam) is not None and Homography.of(CameraConfig(id="c", source="x")) is None

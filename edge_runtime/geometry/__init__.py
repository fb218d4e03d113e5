"""Pure geometry shared by config, fusion, vision and the simulator.

A leaf: it imports nothing else from ``edge_runtime`` (tests/test_layering.py
checks), so every layer may use it without import cycles.

- :mod:`.site`: GPS lat/lon <-> site metres (:class:`LocalFrame`) and polygons with signed distances.
- :mod:`.homography`: image pixels <-> site metres on the ground plane, and foot points.
- :mod:`.simple_polygon`: whether vertices make a simple polygon with an area (config refuses others).
"""
from .homography import Box, Homography, Point, fit_homography, foot_point
from .simple_polygon import polygon_problem
from .site import LocalFrame, Polygon

__all__ = ["Box", "Homography", "LocalFrame", "Point", "Polygon", "fit_homography", "foot_point", "polygon_problem"]

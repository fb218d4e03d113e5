"""When a compiled artifact's scores agree with the float pipeline it came from: one rule for packaging and the
compatibility check.

Float32 preprocessing can round a value across a tree's threshold, so a row
may take the other branch in one tree of an ensemble: its score moves by up
to one tree's share, while every other row matches to ~1e-7. So: nearly
every row (all but :data:`MAX_DISAGREEING` of them, and at least one row in
:data:`ROWS_PER_ALLOWED`) within :data:`TOLERANCE`, and none beyond
:data:`BOUNDARY_TOLERANCE`. Anything more is a wrong export, not rounding.
"""
from __future__ import annotations

import math

import numpy as np

TOLERANCE = 1e-4
BOUNDARY_TOLERANCE = 0.02  # one of 50+ trees taking the other branch
MAX_DISAGREEING = 0.001
ROWS_PER_ALLOWED = 100


def disagreement(scores: np.ndarray, reference: np.ndarray, tolerance: float = TOLERANCE) -> str | None:
    """Why ``scores`` do not agree with ``reference`` (same shape), or None when they do."""
    off = np.abs(np.asarray(scores, np.float64) - np.asarray(reference, np.float64))
    if off.size == 0:
        return None
    if not np.all(np.isfinite(off)):
        return f"{int(np.sum(~np.isfinite(off)))} of {off.size} scores are not finite"
    worst = float(off.max())
    if worst > BOUNDARY_TOLERANCE:
        return f"scores differ by up to {worst:.3g} (more than a tree threshold's rounding, {BOUNDARY_TOLERANCE:g})"
    allowed = max(math.ceil(off.size / ROWS_PER_ALLOWED), math.floor(off.size * MAX_DISAGREEING))
    over = int(np.sum(off > tolerance))
    if over > allowed:
        return f"{over} of {off.size} scores differ by over {tolerance:g} (max {worst:.3g}; {allowed} allowed)"
    return None

"""Drift statistics between a reference sample and a new one: population stability index and two-sample KS.

PSI bins both samples by the reference's deciles (the bins hold equal shares
of the reference, so a shift anywhere shows) and sums
``(new% - ref%) * ln(new% / ref%)``; empty bins count as a small epsilon so a
value range the reference never had still weighs. Rules of thumb: < 0.1
stable, 0.1-0.25 moderate, > 0.25 a real shift. KS is the largest distance
between the two empirical distribution functions (0..1).
"""
from __future__ import annotations

import numpy as np

BINS = 10
EPSILON = 1e-4


def finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def psi(reference: np.ndarray, new: np.ndarray, bins: int = BINS) -> float:
    ref, cur = finite(reference), finite(new)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("PSI needs values in both samples")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    ref_share, cur_share = np.maximum(ref_share, EPSILON), np.maximum(cur_share, EPSILON)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks(reference: np.ndarray, new: np.ndarray) -> float:
    ref, cur = finite(reference), finite(new)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("KS needs values in both samples")
    ref, cur = np.sort(ref), np.sort(cur)
    points = np.concatenate([ref, cur])
    ref_cdf = np.searchsorted(ref, points, side="right") / ref.size
    cur_cdf = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(ref_cdf - cur_cdf)))

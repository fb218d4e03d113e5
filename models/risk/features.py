"""Features of one worker's sensor window, the same numbers on the edge and in the cloud.

A :class:`SensorWindow` holds one worker's readings (and the fixed gas
detectors of their zone) as the synced ``readings`` table has them: per
kind, time-sorted ``ts, v1, v2, v3`` arrays (``edge_runtime/store/rows.py``
says what ``v1..v3`` mean per kind). It may hold a whole shift:
:func:`window_features` cuts ``[t - WINDOW_S, t]`` out of it and never reads
anything later than ``t``, because the edge scores an alarm when it is raised
and can know nothing from after that moment.

Every feature is NaN when the sensor behind it sent nothing in the window
(the preprocessing decides what a missing value becomes), except the gap
fractions, which say how much of the window had no data (1.0 = none at all).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

WINDOW_S = 300.0
"""How far back a window looks, in seconds."""
GAP_BIN_S = 10.0
"""Gap fractions count the 10 s bins of the window that hold no sample of a kind."""
STILL_G = 0.15
"""|a| within this of 1 g is a still sample (the man-down rule's default ``motion_threshold_g``)."""
GASES = ("O2", "LEL", "H2S", "CO")
"""The gases with features (DOMAIN.md's set points); other gas kinds are ignored."""
_EARTH_M = 6_371_000.0
_DAY_S = 86_400.0
_N_BINS = int(WINDOW_S / GAP_BIN_S)

_GAS_STATS = ("last", "max", "min", "slope")
_GAP_GROUPS = ("gas", "hr", "motion", "gps")

FEATURES: tuple[str, ...] = (
    *(f"gas_{gas}_{stat}" for gas in GASES for stat in _GAS_STATS),
    "hr_mean", "hr_max", "hr_std", "hr_slope", "hr_no_pulse_frac",
    "motion_mean", "motion_std", "motion_still_frac",
    "gps_speed_mean", "gps_speed_max", "gps_hdop_mean",
    "battery_last",
    "tod_sin", "tod_cos",
    *(f"gap_{group}_frac" for group in _GAP_GROUPS),
)
"""Feature names in column order; slopes are per minute, speeds in m/s, motion in g."""
_INDEX = {name: i for i, name in enumerate(FEATURES)}


@dataclass(frozen=True, slots=True)
class Series:
    """One reading kind's samples, sorted by time (float64; NaN where a value is absent)."""

    ts: np.ndarray
    v1: np.ndarray
    v2: np.ndarray
    v3: np.ndarray

    def between(self, lo: float, hi: float) -> Series:
        """The samples with ``lo <= ts <= hi`` (views, no copy)."""
        start = int(np.searchsorted(self.ts, lo, side="left"))
        stop = int(np.searchsorted(self.ts, hi, side="right"))
        return Series(self.ts[start:stop], self.v1[start:stop], self.v2[start:stop], self.v3[start:stop])


class SensorWindow:
    """One worker's readings per kind (``gps``, ``hr``, ``motion``, ``gas:<GAS>``, ``battery`` ...)."""

    __slots__ = ("_series",)

    def __init__(self, series: Mapping[str, Series]) -> None:
        self._series = dict(series)

    @classmethod
    def from_columns(
        cls,
        kind: Sequence[str] | np.ndarray,
        ts: Sequence[float] | np.ndarray,
        v1: Sequence[float | None] | np.ndarray,
        v2: Sequence[float | None] | np.ndarray,
        v3: Sequence[float | None] | np.ndarray,
    ) -> SensorWindow:
        """Group readings-table columns by kind and sort each kind by time (``None`` values become NaN)."""
        kinds = np.asarray(kind, dtype=str)
        times = np.asarray(ts, dtype=np.float64)
        values = [np.asarray(v, dtype=np.float64) for v in (v1, v2, v3)]
        n = len(kinds)
        if any(len(column) != n for column in (times, *values)):
            raise ValueError(f"readings columns differ in length: kind {n}, ts {len(times)}, "
                             f"v1..v3 {[len(v) for v in values]}")
        if not np.isfinite(times).all():
            raise ValueError("readings have a missing or non-finite ts")
        order = np.lexsort((times, kinds))
        kinds, times = kinds[order], times[order]
        values = [v[order] for v in values]
        names, starts = np.unique(kinds, return_index=True)
        stops = [*starts[1:], n]
        return cls({
            str(name): Series(times[a:b], values[0][a:b], values[1][a:b], values[2][a:b])
            for name, a, b in zip(names, starts, stops)
        })

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._series)

    def cut(self, kind: str, lo: float, hi: float) -> Series | None:
        """The samples of ``kind`` with ``lo <= ts <= hi``; None when the window has no such kind."""
        series = self._series.get(kind)
        return None if series is None else series.between(lo, hi)


def window_features(window: SensorWindow, t: float) -> np.ndarray:
    """The :data:`FEATURES` row (float32) of the window ``[t - WINDOW_S, t]``; NaN where a sensor is absent."""
    if not np.isfinite(t):
        raise ValueError(f"scoring time must be finite, got {t!r}")
    out = np.full(len(FEATURES), np.nan, dtype=np.float64)
    lo = t - WINDOW_S
    gas_times = []
    for gas in GASES:
        series = window.cut(f"gas:{gas}", lo, t)
        if series is not None:
            gas_times.append(series.ts)
            _gas(out, gas, series)
    hr = window.cut("hr", lo, t)
    motion = window.cut("motion", lo, t)
    gps = window.cut("gps", lo, t)
    battery = window.cut("battery", lo, t)
    if hr is not None:
        _heart_rate(out, hr)
    if motion is not None:
        _motion(out, motion)
    if gps is not None:
        _gps(out, gps)
    if battery is not None:
        _put(out, "battery_last", _last_finite(battery.v1))
    angle = 2.0 * np.pi * (t % _DAY_S) / _DAY_S
    _put(out, "tod_sin", np.sin(angle))
    _put(out, "tod_cos", np.cos(angle))
    times = {
        "gas": np.concatenate(gas_times) if gas_times else None,
        "hr": None if hr is None else hr.ts,
        "motion": None if motion is None else motion.ts,
        "gps": None if gps is None else gps.ts,
    }
    for group, ts in times.items():
        _put(out, f"gap_{group}_frac", _gap_fraction(ts, t))
    return out.astype(np.float32)


def _put(out: np.ndarray, name: str, value: float) -> None:
    out[_INDEX[name]] = value


def _last_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else np.nan


def _slope_per_min(ts: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope per minute; NaN with fewer than two samples or no time spread."""
    if values.size < 2:
        return np.nan
    x = ts - ts.mean()
    denominator = float(np.dot(x, x))
    if denominator <= 0.0:
        return np.nan
    return float(np.dot(x, values - values.mean()) / denominator * 60.0)


def _gas(out: np.ndarray, gas: str, series: Series) -> None:
    ok = np.isfinite(series.v1)
    values, ts = series.v1[ok], series.ts[ok]
    if not values.size:
        return
    _put(out, f"gas_{gas}_last", values[-1])
    _put(out, f"gas_{gas}_max", values.max())
    _put(out, f"gas_{gas}_min", values.min())
    _put(out, f"gas_{gas}_slope", _slope_per_min(ts, values))


def _heart_rate(out: np.ndarray, series: Series) -> None:
    ok = np.isfinite(series.v1)
    bpm, ts = series.v1[ok], series.ts[ok]
    if not bpm.size:
        return
    pulse = bpm > 0.0  # 0 bpm is "no signal / poor contact" (DOMAIN.md), not a heart rate
    _put(out, "hr_no_pulse_frac", 1.0 - pulse.mean())
    if pulse.any():
        beats = bpm[pulse]
        _put(out, "hr_mean", beats.mean())
        _put(out, "hr_max", beats.max())
        _put(out, "hr_std", beats.std())
        _put(out, "hr_slope", _slope_per_min(ts[pulse], beats))


def _motion(out: np.ndarray, series: Series) -> None:
    magnitude = np.sqrt(series.v1**2 + series.v2**2 + series.v3**2)
    magnitude = magnitude[np.isfinite(magnitude)]
    if not magnitude.size:
        return
    _put(out, "motion_mean", magnitude.mean())
    _put(out, "motion_std", magnitude.std())
    _put(out, "motion_still_frac", (np.abs(magnitude - 1.0) < STILL_G).mean())


def _gps(out: np.ndarray, series: Series) -> None:
    lat, lon, hdop = series.v1, series.v2, series.v3
    fix = np.isfinite(lat) & np.isfinite(lon) & ~((lat == 0.0) & (lon == 0.0))  # never trust 0,0
    hdops = hdop[fix & np.isfinite(hdop)]
    if hdops.size:
        _put(out, "gps_hdop_mean", hdops.mean())
    lat, lon, ts = lat[fix], lon[fix], series.ts[fix]
    if lat.size < 2:
        return
    dt = np.diff(ts)
    mid = np.radians((lat[1:] + lat[:-1]) / 2.0)
    dy = np.radians(np.diff(lat)) * _EARTH_M
    dx = np.radians(np.diff(lon)) * _EARTH_M * np.cos(mid)  # equirectangular: metres over seconds apart
    moved = dt > 0.0
    if not moved.any():
        return
    speed = np.hypot(dx[moved], dy[moved]) / dt[moved]
    _put(out, "gps_speed_mean", speed.mean())
    _put(out, "gps_speed_max", speed.max())


def _gap_fraction(ts: np.ndarray | None, t: float) -> float:
    """Share of the window's bins without a sample (1.0 when the kind sent nothing)."""
    if ts is None or not ts.size:
        return 1.0
    bins = np.minimum(((t - ts) // GAP_BIN_S).astype(np.int64), _N_BINS - 1)
    return 1.0 - np.unique(bins).size / _N_BINS

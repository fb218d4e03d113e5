"""A worker's gas exposure over a window, from the stored one-minute averages (DOMAIN.md, Gas).

The arithmetic is the instruments' (and fusion/gas_exposure.py's): minute
values are clamped at 0, a minute without data counts as 0, the 8-hour TWA
equivalent is the sum of minute values / ``twa_window_min`` (480 by default)
and the STEL is the mean of ``stel_window_min`` consecutive minutes. The
report's STEL peak is the highest such rolling mean in the window; it ends at
a minute with data, since a window only gains by taking in a minute with data.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_runtime.config.gas import ExposureSettings, GasSetPoints

from .schemas import GasExposureOut

MINUTE_S = 60.0
# Conditions fusion raises on a worker for a gas (gas_setpoints.py, gas_exposure_alarms.py): set points, STEL, TWA.
GAS_CONDITIONS = ("gas", "stel", "twa")


@dataclass(frozen=True, slots=True)
class MinuteValue:
    """One stored minute: its start (UNIX seconds) and mean concentration."""

    minute_ts: float
    value: float


@dataclass(frozen=True, slots=True)
class StelPeak:
    value: float
    end_ts: float  # end of the last minute of the window


def twa(minutes: Iterable[MinuteValue], twa_window_min: int) -> float:
    """Sum of the (clamped) minute values over the TWA window: the cumulative 8-hour equivalent."""
    return sum(max(m.value, 0.0) for m in minutes) / twa_window_min


def stel_peak(minutes: Sequence[MinuteValue], stel_window_min: int) -> StelPeak | None:
    """The highest rolling ``stel_window_min``-minute mean (missing minutes count 0); the first of equal peaks."""
    best: StelPeak | None = None
    window: deque[tuple[int, float]] = deque()  # (minute number, value) inside the rolling window
    total = 0.0
    for m in sorted(minutes, key=lambda m: m.minute_ts):
        number, value = int(m.minute_ts // MINUTE_S), max(m.value, 0.0)
        window.append((number, value))
        total += value
        while window[0][0] <= number - stel_window_min:
            total -= window.popleft()[1]
        mean = total / stel_window_min
        if best is None or mean > best.value:
            best = StelPeak(mean, (number + 1) * MINUTE_S)
    return best


def gas_exposure(
    gas: str, minutes: Sequence[MinuteValue], set_points: GasSetPoints | None, settings: ExposureSettings,
    alarms: int,
) -> GasExposureOut:
    """The report line of one gas (``set_points`` None: a gas the site has no limits for)."""
    peak = stel_peak(minutes, settings.stel_window_min)
    return GasExposureOut(
        gas=gas,
        unit=set_points.unit if set_points else "",
        minutes=len(minutes),
        twa=twa(minutes, settings.twa_window_min) if minutes else None,
        twa_limit=set_points.twa if set_points else None,
        stel_peak=peak.value if peak else None,
        stel_peak_ts=peak.end_ts if peak else None,
        stel_limit=set_points.stel if set_points else None,
        peak=max(max(m.value, 0.0) for m in minutes) if minutes else None,
        alarms=alarms,
    )


def gas_alarms(counts: Mapping[str, int], gas: str) -> int:
    """The worker's gas alarms for ``gas`` among per-condition counts (see history.alarm_counts)."""
    return sum(counts.get(f"{prefix}:{gas}", 0) for prefix in GAS_CONDITIONS)


def exposure_lines(
    gases: Sequence[str], rows: Iterable[Mapping[str, Any]], counts: Mapping[str, int],
    set_points: Mapping[str, GasSetPoints], settings: ExposureSettings,
) -> list[GasExposureOut]:
    """One line per gas of the worker's detector (``gases``), then per other gas found in ``rows``."""
    by_gas: dict[str, list[MinuteValue]] = {gas: [] for gas in gases}
    for row in rows:
        by_gas.setdefault(row["gas"], []).append(MinuteValue(row["minute_ts"], row["value"]))
    return [gas_exposure(gas, minutes, set_points.get(gas), settings, gas_alarms(counts, gas))
            for gas, minutes in by_gas.items()]

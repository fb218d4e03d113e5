"""Down-sampling of continuous readings before they are queued for storage.

A site with more sensors than disk sets ``readings_sample_s``: at most one
reading per (device, kind) per period is kept. Event readings (panic, check-in,
detector status) are always kept: they are rare and each one matters.
"""
from __future__ import annotations

from collections.abc import Hashable

from firmware_bridge.readings import Battery, GasSample, GpsFix, HeartRate, Motion, Observation

_SAMPLED: frozenset[type] = frozenset({GpsFix, GasSample, HeartRate, Motion, Battery})


class Sampler:
    """Keeps one reading per (device, kind) per ``period_s`` of the readings' own timestamps."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._last: dict[Hashable, float] = {}

    def keep(self, obs: Observation) -> bool:
        """True if ``obs`` should be stored; cheap enough for every reading on the loop."""
        reading = obs.reading
        kind = type(reading)
        if kind not in _SAMPLED:
            return True
        # A multi-gas detector reports each gas as its own kind.
        key = (obs.device, reading.gas) if kind is GasSample else (obs.device, kind)  # type: ignore[union-attr]
        last = self._last.get(key)
        # A timestamp that went backwards (clock step) starts a new period.
        if last is not None and 0.0 <= obs.ts - last < self._period:
            return False
        self._last[key] = obs.ts
        return True

"""Down-sampling of continuous readings before they are queued for the writer.

A site with more sensors than disk sets ``readings_sample_s``: at most one
reading per (device, kind) per period is kept. It runs on rows in the store
process, so readings from every producer (the daemon's chunks and
observations, the ingest process's rows) are sampled alike. Event readings
(panic, check-in, detector status, kinds a newer codec adds) are always
kept: they are rare and each one matters.
"""
from __future__ import annotations

from .statements import Row

# Continuous kinds of rows.py's table; each gas of a multi-gas detector is its own "gas:<GAS>" kind.
_SAMPLED = frozenset({"gps", "hr", "motion", "battery"})
_GAS = "gas:"


class Sampler:
    """Keeps one row per (device, kind) per ``period_s`` of the readings' own timestamps."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._last: dict[tuple[str, str], float] = {}

    def keep(self, row: Row) -> bool:
        """True if the ``readings`` row should be stored."""
        device, kind, ts = row[0], row[1], row[2]
        if kind not in _SAMPLED and not kind.startswith(_GAS):
            return True
        key = (device, kind)
        last = self._last.get(key)
        # A timestamp that went backwards (clock step) starts a new period.
        if last is not None and 0.0 <= ts - last < self._period:
            return False
        self._last[key] = ts
        return True

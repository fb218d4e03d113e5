"""Exposure arithmetic for one worker and one gas, as instruments do it (DOMAIN.md).

- Raw readings are averaged into one-minute values; negative (drifted)
  readings count as 0.
- STEL = sum of the last ``stel_window_min`` minute values / that window; a
  minute without readings (before the detector was on, or a gap) counts as 0.
- TWA, ``cumulative``: sum of the shift's minute values / ``twa_window_min``
  (only rises during a shift); ``moving``: mean of the last ``twa_window_min``
  minutes.
- A shift starts at the first reading after the detector was silent for
  ``shift_gap_min`` (switched off between shifts), as an instrument resets
  at power-on; the STEL-period count belongs to the shift.

Minutes are wall-clock minutes (``ts // 60``). ``stel``/``twa`` change when a
minute closes; :meth:`Exposure.running` adds the open minute pro rata (the rest
of it counted as 0), a lower bound of what the minute will close with, so an
alarm is raised as soon as the limit is certainly exceeded, not up to a minute
later. Each reading costs a few additions. Exposure follows the
worker (the detector they carry), not the zone: :class:`ExposureBook` keeps the
accumulators per worker and gas, and its ``snapshot``/``restore`` carry
everything needed for STEL/TWA to continue across a daemon restart.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice, repeat
from typing import Any

from edge_runtime.config.gas import ExposureSettings
from firmware_bridge.readings import Gas

log = logging.getLogger(__name__)


class Exposure:
    """One worker's exposure accumulators for one gas."""

    __slots__ = (
        "_stel_n", "_twa_n", "_moving", "_gap_s", "_values", "_minute", "_sum", "_n", "_shift_sum",
        "last_ts", "stel", "twa", "stel_periods", "stel_over", "stel_last_end", "_stel_tail", "_twa_base",
        "twa_alarmed", "last_closed",
    )

    def __init__(self, settings: ExposureSettings) -> None:
        self._stel_n = settings.stel_window_min
        self._twa_n = settings.twa_window_min
        self._moving = settings.twa_mode == "moving"
        self._gap_s = settings.shift_gap_min * 60.0
        # twa_window_min >= 60 > stel_window_min, so a moving window also covers STEL
        self._values: deque[float] = deque(maxlen=self._twa_n if self._moving else self._stel_n)
        self._minute: int | None = None  # the open (not yet averaged) minute
        self._sum = 0.0
        self._n = 0
        self._shift_sum = 0.0
        self.last_ts: float | None = None
        self.stel = 0.0
        self.twa = 0.0
        self.stel_periods = 0
        self.stel_over = False
        self.stel_last_end: float | None = None
        self.twa_alarmed = False  # the TWA was last judged over its limit
        self._stel_tail = 0.0  # closed minutes that stay in the STEL window with the open one
        self._twa_base = 0.0  # likewise for TWA
        self.last_closed: tuple[float, float] | None = None  # (minute start ts, mean) of the last minute with readings

    def add(self, ts: float, value: float) -> bool:
        """Take one raw reading; returns True when it closed a minute (STEL/TWA changed)."""
        if self.last_ts is not None and ts - self.last_ts >= self._gap_s:
            self._new_shift()
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        minute = int(ts // 60.0)
        rolled = False
        if self._minute is None:
            self._minute = minute
        elif minute > self._minute:  # a late reading from an earlier minute joins the open one
            self._close(minute)
            rolled = True
        if value > 0.0:
            self._sum += value
        self._n += 1
        return rolled

    def roll(self, now: float) -> bool:
        """Close the open minute once the clock has left it (no reading needed)."""
        minute = int(now // 60.0)
        if self._minute is None or minute <= self._minute:
            return False
        self._close(minute)
        return True

    def running(self, ts: float) -> tuple[float, float]:
        """(STEL, TWA) counting the open minute pro rata and the rest of it as 0.

        Under regular sampling this is a lower bound of the values the minute
        will close with, so it may raise an alarm early but never clears one
        early: the larger of it and the last closed value is returned.
        """
        if self._minute is None or not self._n:
            return self.stel, self.twa
        part = self._sum / self._n * min(1.0, max(0.0, ts / 60.0 - self._minute))
        return (
            max(self.stel, (self._stel_tail + part) / self._stel_n),
            max(self.twa, (self._twa_base + part) / self._twa_n),
        )

    @property
    def current_minute_mean(self) -> float | None:
        """Mean of the open minute so far (dashboards), None before any reading in it."""
        return self._sum / self._n if self._n else None

    def mark_stel(self, over: bool, ts: float) -> bool:
        """Track STEL excursions; returns True when a new one (a STEL period) begins."""
        if over == self.stel_over:
            return False
        self.stel_over = over
        if over:
            self.stel_periods += 1
            return True
        self.stel_last_end = ts
        return False

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (minute values, open minute, shift sums, STEL periods)."""
        return {
            "minute": self._minute,
            "sum": self._sum,
            "n": self._n,
            "values": list(self._values),
            "shift_sum": self._shift_sum,
            "last_ts": self.last_ts,
            "stel_periods": self.stel_periods,
            "stel_over": self.stel_over,
            "stel_last_end": self.stel_last_end,
        }

    @classmethod
    def restore(cls, settings: ExposureSettings, state: dict[str, Any]) -> Exposure:
        """Rebuild from :meth:`snapshot`; minutes missed while the daemon was down count as 0."""
        exp = cls(settings)
        exp._minute = None if state["minute"] is None else int(state["minute"])
        exp._sum = float(state["sum"])
        exp._n = int(state["n"])
        exp._values.extend(float(v) for v in state["values"])
        exp._shift_sum = float(state["shift_sum"])
        exp.last_ts = None if state["last_ts"] is None else float(state["last_ts"])
        exp.stel_periods = int(state["stel_periods"])
        exp.stel_over = bool(state["stel_over"])
        exp.stel_last_end = None if state["stel_last_end"] is None else float(state["stel_last_end"])
        exp._compute()
        return exp

    def _close(self, to_minute: int) -> None:
        assert self._minute is not None
        value = self._sum / self._n if self._n else 0.0
        self.last_closed = (self._minute * 60.0, value) if self._n else None
        self._values.append(value)
        self._shift_sum += value
        missing = min(to_minute - self._minute - 1, self._values.maxlen or 0)
        if missing > 0:
            self._values.extend(repeat(0.0, missing))
        self._minute, self._sum, self._n = to_minute, 0.0, 0
        self._compute()

    def _compute(self) -> None:
        self._stel_tail = sum(islice(reversed(self._values), self._stel_n - 1))
        self.stel = (self._stel_tail + (self._values[-self._stel_n] if len(self._values) >= self._stel_n else 0.0)) / self._stel_n
        if self._moving:
            total = sum(self._values)
            self._twa_base = total - (self._values[0] if len(self._values) >= self._twa_n else 0.0)
        else:
            total = self._twa_base = self._shift_sum
        self.twa = total / self._twa_n

    def _new_shift(self) -> None:
        self._values.clear()
        self._minute = None
        self._sum, self._n, self._shift_sum = 0.0, 0, 0.0
        self.stel = self.twa = self._stel_tail = self._twa_base = 0.0
        self.stel_periods = 0
        self.stel_over = False
        self.stel_last_end = None


class ExposureBook:
    """Every worker's accumulators, per gas, created on the first reading."""

    def __init__(self, settings: ExposureSettings, workers: Iterable[str]) -> None:
        self._settings = settings
        self._workers = set(workers)
        self._book: dict[str, dict[Gas, Exposure]] = {}
        # told of every closed minute with readings (worker, gas, minute start ts, mean): the store
        # keeps them for shift reports and the cloud
        self.on_minute: Callable[[str, str, float, float], None] | None = None

    def add(self, worker_id: str, gas: Gas, ts: float, value: float) -> Exposure:
        """Take a reading; returns the accumulator (its running STEL/TWA are to be judged)."""
        gases = self._book.setdefault(worker_id, {})
        exp = gases.get(gas)
        if exp is None:
            exp = gases[gas] = Exposure(self._settings)
        if exp.add(ts, value):
            self._closed(worker_id, gas, exp)
        return exp

    def roll(self, now: float) -> list[tuple[str, Gas, Exposure]]:
        """Close the minute the clock has left; returns the accumulators that changed."""
        changed = [(w, gas, exp) for w, gases in self._book.items() for gas, exp in gases.items() if exp.roll(now)]
        for w, gas, exp in changed:
            self._closed(w, gas, exp)
        return changed

    def _closed(self, worker_id: str, gas: Gas, exp: Exposure) -> None:
        if self.on_minute is not None and exp.last_closed is not None:
            self.on_minute(worker_id, gas.value, *exp.last_closed)

    def of(self, worker_id: str) -> dict[Gas, Exposure]:
        return self._book.get(worker_id, {})

    def snapshot(self) -> dict[str, Any]:
        return {w: {gas.value: exp.snapshot() for gas, exp in gases.items()} for w, gases in self._book.items()}

    def restore(self, state: dict[str, Any]) -> None:
        for worker_id, gases in state.items():
            if worker_id not in self._workers:
                log.warning("exposure snapshot names unknown worker %r: dropped", worker_id)
                continue
            for gas, exp_state in gases.items():
                self._book.setdefault(worker_id, {})[Gas(gas)] = Exposure.restore(self._settings, exp_state)

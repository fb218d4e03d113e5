"""Scenario time: values over it (ramps, step changes, walks, seeded noise) and the clock that runs it.

Everything here is a pure function of ``t``: the world can be asked about any
instant in any order and answers the same, which is what makes a run
reproducible even though the emulators sample it on a jittery event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from statistics import NormalDist
from typing import Generic, TypeVar

from .scenario import Ramp

T = TypeVar("T")
Point = tuple[float, float]

_NORMAL = NormalDist()


class Ramps:
    """A value made of linear ramps, each starting where the value is when it begins.

    Between and after ramps the value drifts at ``drift_per_s`` (a battery
    drains); ramps must be added in time order, as scenario events are.
    """

    def __init__(self, initial: float, drift_per_s: float = 0.0) -> None:
        self._initial = initial
        self._drift = drift_per_s
        self._starts: list[float] = []
        self._segments: list[tuple[float, float, float, float]] = []  # t0, v0, t1, v1

    def ramp(self, at: float, ramp: Ramp) -> None:
        self._segments.append((at, self.value(at), at + ramp.over_s, ramp.to))
        self._starts.append(at)

    def value(self, t: float) -> float:
        i = bisect_right(self._starts, t)
        if i == 0:
            return self._initial + self._drift * t
        t0, v0, t1, v1 = self._segments[i - 1]
        if t < t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return v1 + self._drift * (t - t1)


class Steps(Generic[T]):
    """A state that changes at instants (a button, a link, a fix)."""

    def __init__(self, initial: T) -> None:
        self._initial = initial
        self._times: list[float] = []
        self._values: list[T] = []

    def set(self, at: float, value: T) -> None:
        self._times.append(at)
        self._values.append(value)

    def value(self, t: float) -> T:
        return self.since(t)[0]

    def since(self, t: float) -> tuple[T, float]:
        """The state at ``t`` and when it began (0 for the initial state)."""
        i = bisect_right(self._times, t)
        return (self._initial, 0.0) if i == 0 else (self._values[i - 1], self._times[i - 1])


@dataclass(frozen=True, slots=True)
class Leg:
    """Standing at ``start`` or walking a route from it, from ``t0`` on."""

    t0: float
    start: Point
    route: tuple[Point, ...] = ()
    speed_mps: float = 0.0
    loop: bool = False

    def at(self, t: float) -> tuple[Point, Point]:
        """Position and velocity (m, m/s) at ``t``."""
        distance = self.speed_mps * max(0.0, t - self.t0)
        lead = (self.start, *self.route)
        lead_len = _length(lead)
        if distance <= lead_len or not self.loop:
            pos, heading = _along(lead, distance)
        else:
            cycle = (self.route[-1], *self.route)  # from the last waypoint back to the first, and round
            cycle_len = _length(cycle)
            if cycle_len == 0:
                return self.route[0], (0.0, 0.0)
            pos, heading = _along(cycle, (distance - lead_len) % cycle_len)
        return pos, (heading[0] * self.speed_mps, heading[1] * self.speed_mps)


def _length(points: tuple[Point, ...]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


def _along(points: tuple[Point, ...], distance: float) -> tuple[Point, Point]:
    """The point ``distance`` metres along a polyline and the unit heading there ((0,0) at the end)."""
    for a, b in itertools.pairwise(points):
        seg = math.dist(a, b)
        if distance < seg:
            ux, uy = (b[0] - a[0]) / seg, (b[1] - a[1]) / seg
            return (a[0] + ux * distance, a[1] + uy * distance), (ux, uy)
        distance -= seg
    return points[-1], (0.0, 0.0)


class Noise:
    """Seeded noise that is a function of (seed, key, time), not of call order."""

    def __init__(self, seed: int) -> None:
        self._key = str(seed).encode()[:64]

    def uniform(self, key: str, t: float = 0.0) -> float:
        """Uniform in (0, 1) for this key at this millisecond."""
        digest = hashlib.blake2b(f"{key}@{round(t * 1000)}".encode(), digest_size=8, key=self._key).digest()
        return (int.from_bytes(digest, "big") + 0.5) / 2.0**64

    def gauss(self, key: str, t: float, sigma: float) -> float:
        return sigma * _NORMAL.inv_cdf(self.uniform(key, t))

    def between(self, key: str, low: float, high: float) -> float:
        """A per-key constant in [low, high): a worker's resting pulse, a tag's phase."""
        return low + (high - low) * self.uniform(key)


class SimClock:
    """Scenario time on the event loop: ``speed`` scenario seconds pass per wall second.

    Timestamps put on the wire (NMEA time, telemetry ``ts``) are the wall-clock
    moment a scenario instant happens, so the daemon sees plausible, current times.
    """

    def __init__(self, speed: float = 1.0, *, wall: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._wall = wall
        self._mono0: float | None = None
        self._wall0 = 0.0

    @property
    def started(self) -> bool:
        return self._mono0 is not None

    def start(self) -> None:
        """Scenario time 0 is now."""
        self._mono0, self._wall0 = time.monotonic(), self._wall()

    def now(self) -> float:
        if self._mono0 is None:
            return 0.0
        return (time.monotonic() - self._mono0) * self.speed

    def wall(self, t: float) -> float:
        """Epoch seconds at which scenario time ``t`` happens (or happened)."""
        return self._wall0 + t / self.speed

    def utc(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.wall(t), timezone.utc)

    async def sleep_until(self, t: float) -> None:
        delay = (t - self.now()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)

    async def every(self, period_s: float, emit: Callable[[float], None], *, phase_s: float = 0.0) -> None:
        """Call ``emit(t)`` at ``t = phase + k * period`` until cancelled.

        A tick the loop reaches more than half a period late is skipped rather
        than replayed in a burst, as a real device's timer would.
        """
        k = self._tick_due(period_s, phase_s, 0)
        while True:
            t = phase_s + k * period_s
            await self.sleep_until(t)
            emit(t)
            k = self._tick_due(period_s, phase_s, k + 1)

    def _tick_due(self, period_s: float, phase_s: float, k: int) -> int:
        return max(k, math.ceil((self.now() - phase_s) / period_s - 0.5))

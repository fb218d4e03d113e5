"""demo.yaml on the demo site raises every kind of alarm within its first 40 seconds.

A static check: the scenario is played through the world (no daemon) and each
alarm rule of DOMAIN.md is applied with the demo site's own set points and
timers, giving the earliest time that alarm is due. The daemon's end-to-end
tests then show it really raises them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.config import SiteConfig
from edge_runtime.config.people import Worker
from edge_runtime.geometry import LocalFrame, Polygon
from edge_runtime.sim.scenario import Scenario
from edge_runtime.sim.world import World
from firmware_bridge.readings import Contact, Gas

DEADLINE_S = 40.0
STEP_S = 0.05  # the wearables' accelerometer rate (20 Hz)
TIMES = [round(i * STEP_S, 3) for i in range(int(DEADLINE_S / STEP_S) + 1)]


def _first(times: list[float], condition: Callable[[float], bool], hold_s: float = 0.0) -> float | None:
    """The first time ``condition`` has held for ``hold_s`` without a break."""
    since: float | None = None
    for t in times:
        if not condition(t):
            since = None
            continue
        since = t if since is None else since
        if t - since >= hold_s:
            return t
    return None


def _seconds(start: float, end: float) -> list[float]:
    """The instants a 1 Hz detector reports in (start, end]."""
    return [float(t) for t in range(math.floor(start) + 1, math.floor(end) + 1)]


def _earliest(values: Iterator[float | None]) -> float | None:
    return min((v for v in values if v is not None), default=None)


class _Memo:
    """The world with every answer remembered: all the rules sample the same instants."""

    def __init__(self, world: World) -> None:
        self._world = world

    def __getattr__(self, name: str) -> Any:
        method = functools.cache(getattr(self._world, name))
        setattr(self, name, method)
        return method


class Expect:
    """The earliest time each alarm kind is due on the demo site."""

    def __init__(self, site: SiteConfig, world: World, scenario_s: float) -> None:
        self.site, self.world, self.scenario_s = site, cast(World, _Memo(world)), scenario_s
        self.portables = [(w.id, w.detector) for w in site.workers if w.detector]
        self.fixed = [d for d in site.detectors if d.kind == "fixed"]

    def _over(self, detector: str, level: str) -> Callable[[float], bool]:
        points = self.site.gas.set_points
        return lambda t: any(
            g in points and points[g].direction == "rising" and v >= getattr(points[g], level)
            for g, v in self.world.gas(detector, t).items()
        )

    def gas_low(self) -> float | None:
        return _earliest(_first(TIMES, self._over(d, "low")) for _, d in self.portables)

    def gas_high(self) -> float | None:
        return _earliest(_first(TIMES, self._over(d, "high")) for _, d in self.portables)

    def zone_gas(self) -> float | None:
        return _earliest(_first(TIMES, self._over(d.id, "high")) for d in self.fixed)

    def zone_evacuate(self) -> float | None:
        def two_in_one_zone(zone: str) -> Callable[[float], bool]:
            heads = [d.id for d in self.fixed if d.zone == zone]
            return lambda t: sum(self._over(d, "high")(t) for d in heads) >= 2

        return _earliest(_first(TIMES, two_in_one_zone(z.id)) for z in self.site.zones)

    def gas_stel(self) -> float | None:
        """STEL is time-based: the mean of the last N one-minute averages, judged as a
        wall-clock minute closes (the first minute of the run is partial). Returns the
        latest it can be due, over every phase of the wall clock against the run."""
        limit = self.site.gas.set_points[Gas.H2S].stel
        window = self.site.gas.exposure.stel_window_min
        assert limit is not None

        def due(detector: str, boundary: float) -> float | None:
            minutes: list[float] = []
            start = 0.0
            while boundary <= self.scenario_s:
                samples = [self.world.gas(detector, t)[Gas.H2S] for t in _seconds(start, boundary)]
                minutes.append(sum(samples) / len(samples))
                if sum(minutes[-window:]) / window > limit:
                    return boundary
                start, boundary = boundary, boundary + 60
            return None

        worst = [_earliest(due(d, phase) for _, d in self.portables) for phase in range(1, 61)]
        return None if None in worst else max(w for w in worst if w is not None)

    def _still(self, worker: str) -> Callable[[float], bool]:
        threshold = self.site.man_down.motion_threshold_g
        return lambda t: abs(self.world.accel(worker, t).magnitude_g - 1) < threshold

    def _motionless(self, abnormal_pulse: bool) -> float | None:
        """No movement for ``no_motion_s`` plus the cancel window; the pulse then decides
        between NO_MOTION (normal) and MAN_DOWN (abnormal or missing)."""
        md, hr = self.site.man_down, self.site.heart_rate

        def abnormal(worker: Worker, t: float) -> bool:
            beat = self.world.heart_rate(worker.id, t)
            return beat.contact is Contact.NOT_DETECTED or not hr.low_bpm <= beat.bpm <= hr.high_offset - worker.age

        due = []
        for w in self.site.workers:
            still = _first(TIMES, self._still(w.id), md.no_motion_s)
            if still is not None and abnormal(w, still) is abnormal_pulse:
                due.append(still + md.cancel_window_s)
        return min(due, default=None)

    def no_motion(self) -> float | None:
        return self._motionless(abnormal_pulse=False)

    def man_down(self) -> float | None:
        return self._motionless(abnormal_pulse=True)

    def fall(self) -> float | None:
        fall = self.site.man_down.fall
        for w in self.site.workers:
            g = [self.world.accel(w.id, t).magnitude_g for t in TIMES]
            for i, t in enumerate(TIMES):
                window = g[i : i + int(fall.impact_within_s / STEP_S)]
                if g[i] < fall.free_fall_g and max(window, default=0) > fall.impact_g:
                    return t + fall.inactivity_s + self.site.man_down.cancel_window_s
        return None

    def panic(self) -> float | None:
        return _earliest(_first(TIMES, lambda t, w=w.id: self.world.panic(w, t)) for w in self.site.workers)

    def check_in_missed(self) -> float | None:
        ci = self.site.check_in
        seconds = [float(t) for t in range(int(DEADLINE_S) + 1)]

        def overdue(worker: str) -> Callable[[float], bool]:
            return lambda t: t >= ci.interval_s and not self.world.checked_in(worker, t - ci.interval_s, t)

        return _earliest(
            (s + ci.cancel_window_s if (s := _first(seconds, overdue(w.id))) is not None else None)
            for w in self.site.workers
            if w.lone_worker
        )

    def hr_high(self) -> float | None:
        hr = self.site.heart_rate
        return _earliest(
            _first(
                TIMES, lambda t, w=w: self.world.heart_rate(w.id, t).bpm > hr.high_offset - w.age, hr.sustained_high_s
            )
            for w in self.site.workers
        )

    def hr_no_signal(self) -> float | None:
        no_pulse = lambda w: lambda t: self.world.heart_rate(w, t).contact is Contact.NOT_DETECTED
        return _earliest(_first(TIMES, no_pulse(w.id), self.site.heart_rate.no_signal_s) for w in self.site.workers)

    def low_battery(self) -> float | None:
        low = self.site.battery.low_percent
        return _earliest(_first(TIMES, lambda t, w=w.id: self.world.battery(w, t) < low) for w in self.site.workers)

    def no_position(self) -> float | None:
        stale = self.site.positions.stale_after_s
        return _earliest(
            _first(TIMES, lambda t, w=w.id: not self.world.gps(w, t).fix, stale) for w in self.site.workers
        )

    def geofence(self) -> float | None:
        """An unauthorised worker well inside a restricted zone (hysteresis margin) for its dwell time."""
        p = self.site.positions
        frame = LocalFrame(self.site.site.origin_lat, self.site.site.origin_lon)
        due = []
        for zone in (z for z in self.site.zones if z.hazard == "restricted"):
            poly = Polygon(zone.polygon)
            for w in (
                w for w in self.site.workers if w.id not in zone.authorised and zone.id not in w.authorised_zones
            ):

                def inside(t: float, w: str = w.id, poly: Polygon = poly) -> bool:
                    fix = self.world.gps(w, t)
                    margin = min(p.hysteresis_factor * fix.hdop * p.uere_m, p.max_margin_m, poly.max_depth / 2)
                    return fix.fix and poly.signed_distance(*frame.to_xy(fix.lat, fix.lon)) > margin

                due.append(_first(TIMES, inside, zone.dwell_s))
        return _earliest(iter(due))

    def proximity(self) -> float | None:
        limit = self.site.proximity.critical_m
        return _earliest(
            _first(TIMES, lambda t, w=w.id, e=e.position: math.dist(self.world.position(w, t), e) <= limit)
            for w in self.site.workers
            for e in self.site.equipment
            if e.position is not None
        )


# Every kind the demo must show, and the latest time it may be due.
DEMO_KINDS = {
    AlarmKind.GAS_LOW: DEADLINE_S,
    AlarmKind.GAS_HIGH: DEADLINE_S,
    AlarmKind.ZONE_GAS: DEADLINE_S,
    AlarmKind.ZONE_EVACUATE: DEADLINE_S,
    AlarmKind.GAS_STEL: 80.0,  # time-based: when a wall-clock minute closes, within the 90 s run
    AlarmKind.NO_MOTION: DEADLINE_S,
    AlarmKind.MAN_DOWN: DEADLINE_S,
    AlarmKind.FALL: DEADLINE_S,
    AlarmKind.PANIC: DEADLINE_S,
    AlarmKind.CHECK_IN_MISSED: DEADLINE_S,
    AlarmKind.HR_HIGH: DEADLINE_S,
    AlarmKind.HR_NO_SIGNAL: DEADLINE_S,
    AlarmKind.LOW_BATTERY: DEADLINE_S,
    AlarmKind.NO_POSITION: DEADLINE_S,
    AlarmKind.GEOFENCE: DEADLINE_S,
    AlarmKind.PROXIMITY: DEADLINE_S,
}


@pytest.fixture(scope="module")
def expect(demo_site: SiteConfig, demo_scenario: Scenario) -> Expect:
    return Expect(demo_site, World(demo_site, demo_scenario, seed=0), demo_scenario.duration_s)


@pytest.mark.parametrize("kind", list(DEMO_KINDS), ids=lambda k: k.value)
def test_demo_raises_every_alarm_kind_in_time(kind: AlarmKind, expect: Expect) -> None:
    due = getattr(expect, kind.value)()
    assert due is not None, f"demo.yaml never raises {kind.value}"
    assert due <= DEMO_KINDS[kind], f"{kind.value} only due at {due:.1f} s"


def test_demo_has_a_gas_low_that_does_not_go_high(expect: Expect) -> None:
    """A worker whose alarm stays at low, so the demo shows both levels side by side."""
    low_only = [
        w
        for w, d in expect.portables
        if _first(TIMES, expect._over(d, "low")) is not None and _first(TIMES, expect._over(d, "high")) is None
    ]
    assert low_only


def test_demo_site_shortens_the_timers_and_the_demo_is_long_enough(
    demo_site: SiteConfig, demo_scenario: Scenario
) -> None:
    assert demo_site.man_down.no_motion_s + demo_site.man_down.cancel_window_s <= 20
    assert demo_site.heart_rate.sustained_high_s <= 15 and demo_site.check_in.interval_s <= 30
    assert len(demo_site.workers) >= 12 and len(demo_site.zones) >= 3 and demo_site.equipment
    assert demo_scenario.duration_s >= 80  # the STEL minute fits

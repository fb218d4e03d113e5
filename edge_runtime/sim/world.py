"""The simulated site over time: where each worker is and how they move, their
pulse and battery, their buttons, their GPS fix, and what every detector smells.

The world is compiled once from the site file and the scenario and is then a
pure function of scenario time ``t`` (seconds), with seeded noise: emulators
ask it for any instant and the same seed gives the same answers. Left alone, a
worker behaves normally: they start at the site origin (the muster point),
spread over a few metres, work in place with a normal pulse, and a lone worker
checks in every half check-in interval; the scenario's events change that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge_runtime.config import SiteConfig
from edge_runtime.geometry import LocalFrame, Polygon
from firmware_bridge.readings import Contact, Gas, HeartRate, Motion

from .scenario import (
    DetectorEvent,
    GasRamps,
    Scenario,
    Waypoint,
    WorkerEvent,
    ZoneEvent,
)
from .timeline import Leg, Noise, Point, Ramps, Steps

AMBIENT = {Gas.O2: 20.9}  # %vol; every other gas defaults to 0
DEFAULT_GASES = (Gas.O2, Gas.CO, Gas.H2S, Gas.LEL)  # a detector that lists none: the classic four-gas
BATTERY_DRAIN_PCT_PER_H = 4.0
GPS_JITTER_M = 0.3
FREE_FALL_S = 0.5  # long enough for several samples below the free-fall threshold at 20 Hz
IMPACT_S = 0.2
_GAS_NOISE = {Gas.O2: 0.03, Gas.LEL: 0.2}  # sigma; 0.1 (ppm) for the rest


@dataclass(frozen=True, slots=True)
class GpsState:
    """What a GPS tag reports for one fix."""

    lat: float
    lon: float
    speed_mps: float
    course_deg: float
    fix: bool
    hdop: float
    satellites: int


def _centre(polygon: tuple[Point, ...]) -> Point:
    return sum(p[0] for p in polygon) / len(polygon), sum(p[1] for p in polygon) / len(polygon)


@dataclass
class _WorkerTrack:
    """Everything about one worker over time, compiled from their events."""

    legs: list[Leg]
    hr: Ramps
    battery: Ramps
    motion: Steps[str] = field(default_factory=lambda: Steps("moving"))
    contact: Steps[bool] = field(default_factory=lambda: Steps(True))
    panic: Steps[bool] = field(default_factory=lambda: Steps(False))
    gps_fix: Steps[bool] = field(default_factory=lambda: Steps(True))
    online: Steps[bool] = field(default_factory=lambda: Steps(True))
    check_ins: list[tuple[float, float, float]] = field(default_factory=list)  # first, every (0 = once), until
    gas: dict[Gas, Ramps] = field(default_factory=dict)

    def leg(self, t: float) -> Leg:
        return next(leg for leg in reversed(self.legs) if leg.t0 <= t)

    def stand(self, at: float, where: Point | None = None) -> None:
        self.legs.append(Leg(at, where if where is not None else self.leg(at).at(at)[0]))

    def checked_in(self, t0: float, t1: float) -> bool:
        """Whether a check-in happened in (t0, t1]."""
        for first, every, until in self.check_ins:
            # the first instant of this series after t0
            instant = first if not every else first + max(0, math.floor((t0 - first) / every) + 1) * every
            if t0 < instant <= t1 and instant < until:
                return True
        return False

    def stop_check_ins(self, at: float) -> None:
        self.check_ins = [(f, e, min(u, at)) for f, e, u in self.check_ins]


class World:
    """The site's state at any scenario time; see the module docstring."""

    def __init__(self, config: SiteConfig, scenario: Scenario, seed: int = 0) -> None:
        scenario.check(config)
        self.noise = Noise(seed)
        self._ambient = {**AMBIENT, **scenario.background}
        self._frame = LocalFrame(config.site.origin_lat, config.site.origin_lon)
        zones = {z.id: Polygon(z.polygon) for z in config.zones}
        # innermost first (a tank inside the yard), by bounding-box area
        self._zones = sorted(zones.items(), key=lambda z: (z[1].max_x - z[1].min_x) * (z[1].max_y - z[1].min_y))
        self._places: dict[str, Point] = {z.id: _centre(z.polygon) for z in config.zones}
        self._places |= {e.id: e.position for e in config.equipment if e.position is not None}
        self._detectors = {d.id: d for d in config.detectors}
        self._owner = {w.detector: w.id for w in config.workers if w.detector}
        self._zone_gas: dict[tuple[str, Gas], Ramps] = {}
        self._leak: dict[tuple[str, Gas], Ramps] = {}
        self._drift: dict[tuple[str, Gas], Ramps] = {}
        self._fault: dict[str, Steps[str | None]] = {d.id: Steps(None) for d in config.detectors}
        self._detector_online: dict[str, Steps[bool]] = {d.id: Steps(True) for d in config.detectors}
        self._workers = {w.id: self._new_track(w.id) for w in config.workers}
        for w in config.workers:
            if w.lone_worker:  # a lone worker checks in on time until the scenario says otherwise
                self._workers[w.id].check_ins.append((0.0, config.check_in.interval_s / 2, math.inf))
        for event in scenario.in_order:
            if isinstance(event, WorkerEvent):
                self._apply_worker(event)
            elif isinstance(event, ZoneEvent):
                self._ramp_gases(self._zone_gas, event.zone, event.at, event.gas)
            else:
                self._apply_detector(event)

    # -- compiling events ------------------------------------------------------
    def _new_track(self, worker: str) -> _WorkerTrack:
        n = self.noise
        angle, radius = n.between(f"{worker}:muster-a", 0, 2 * math.pi), n.between(f"{worker}:muster-r", 1, 5)
        return _WorkerTrack(
            legs=[Leg(0.0, (radius * math.cos(angle), radius * math.sin(angle)))],
            hr=Ramps(round(n.between(f"{worker}:hr0", 72, 92))),
            battery=Ramps(round(n.between(f"{worker}:bat0", 55, 100)), -BATTERY_DRAIN_PCT_PER_H / 3600),
        )

    def _place(self, p: Waypoint) -> Point:
        return self._places[p] if isinstance(p, str) else p

    def _ramp_gases(self, table: dict[tuple[str, Gas], Ramps], key: str, at: float, gases: GasRamps) -> None:
        for gas, ramp in gases.items():
            initial = self._ambient.get(gas, 0.0) if table is self._zone_gas else 0.0
            table.setdefault((key, gas), Ramps(initial)).ramp(at, ramp)

    def _apply_worker(self, e: WorkerEvent) -> None:
        track, at = self._workers[e.worker], e.at
        if e.position is not None:
            track.stand(at, self._place(e.position))
        if e.motion is not None:
            track.motion.set(at, e.motion)
            if e.motion != "moving":
                track.stand(at)
        if e.walk is not None:
            start = track.leg(at).at(at)[0]
            route = tuple(self._place(p) for p in e.walk.to)
            track.legs.append(Leg(at, start, route, e.walk.speed_mps, e.walk.loop))
            if track.motion.value(at) != "moving":
                track.motion.set(at, "moving")
        if e.hr is not None:
            track.hr.ramp(at, e.hr)
        if e.battery is not None:
            track.battery.ramp(at, e.battery)
        for steps, value, on in (
            (track.contact, e.hr_contact, "restored"),
            (track.panic, e.panic, "press"),
            (track.gps_fix, e.gps, "regained"),
            (track.online, e.wearable, "online"),
        ):
            if value is not None:
                steps.set(at, value == on)
        if e.check_in == "now":
            track.check_ins.append((at, 0.0, math.inf))
        elif e.check_in is not None:
            track.stop_check_ins(at)
            if e.check_in != "stop":
                track.check_ins.append((at, e.check_in.every_s, math.inf))
        for gas, ramp in (e.gas or {}).items():
            track.gas.setdefault(gas, Ramps(0.0)).ramp(at, ramp)

    def _apply_detector(self, e: DetectorEvent) -> None:
        self._ramp_gases(self._leak, e.detector, e.at, e.gas or {})
        self._ramp_gases(self._drift, e.detector, e.at, e.drift or {})
        if e.fault is not None:
            self._fault[e.detector].set(e.at, None if e.fault == "cleared" else e.fault)
        if e.link is not None:
            self._detector_online[e.detector].set(e.at, e.link == "online")

    # -- workers ---------------------------------------------------------------
    def position(self, worker: str, t: float) -> Point:
        """True position in site metres (GPS adds its own jitter)."""
        return self._workers[worker].leg(t).at(t)[0]

    def zone_of(self, worker: str, t: float) -> str | None:
        """The innermost zone the worker is in (a tank inside the yard: the tank)."""
        return next(iter(self._zones_at(self.position(worker, t))), None)

    def gps(self, worker: str, t: float) -> GpsState:
        track = self._workers[worker]
        (x, y), (vx, vy) = track.leg(t).at(t)
        fix = track.gps_fix.value(t)
        n = self.noise
        lat, lon = self._frame.to_latlon(
            x + n.gauss(f"{worker}:gx", t, GPS_JITTER_M), y + n.gauss(f"{worker}:gy", t, GPS_JITTER_M)
        )
        return GpsState(
            lat=lat,
            lon=lon,
            speed_mps=math.hypot(vx, vy),
            course_deg=math.degrees(math.atan2(vx, vy)) % 360,
            fix=fix,
            hdop=round(0.8 + abs(n.gauss(f"{worker}:hdop", math.floor(t), 0.1)), 1) if fix else 99.9,
            satellites=9 + int(n.between(f"{worker}:sats", 0, 4)) if fix else 2,
        )

    def accel(self, worker: str, t: float) -> Motion:
        """Accelerometer in g: walking bounce, work movement, stillness, or a fall."""
        track = self._workers[worker]
        state, since = track.motion.since(t)
        phase = self.noise.between(f"{worker}:phase", 0, 2 * math.pi)
        sigma = 0.01
        if state == "fall":
            dt = t - since
            if dt < FREE_FALL_S:
                base = (0.05, 0.05, 0.1)
            elif dt < FREE_FALL_S + IMPACT_S:
                base = (2.6, 0.9, 1.8)  # about 3.3 g
            else:
                base = (1.0, 0.0, 0.0)  # lying on the side
        elif state == "still":
            base = (0.0, 0.0, 1.0)
        else:
            sigma = 0.05
            walking = track.leg(t).at(t)[1] != (0.0, 0.0)
            w = 2 * math.pi * t
            if walking:  # a step every ~0.55 s bounces the vertical axis
                base = (0.1 * math.sin(0.9 * w + phase), 0.15 * math.cos(0.9 * w), 1 + 0.35 * math.sin(1.8 * w + phase))
            else:  # handling tools: slower movement on every axis
                base = (0.25 * math.sin(0.7 * w + phase), 0.2 * math.cos(1.1 * w), 1 + 0.25 * math.sin(0.9 * w + phase))
        n = self.noise
        return Motion(*(round(b + n.gauss(f"{worker}:a{i}", t, sigma), 3) for i, b in enumerate(base)))

    def heart_rate(self, worker: str, t: float) -> HeartRate:
        """Pulse with beat-to-beat noise; no contact means no pulse, as a chest strap reports it."""
        track = self._workers[worker]
        if not track.contact.value(t):
            return HeartRate(bpm=0, contact=Contact.NOT_DETECTED)
        bpm = max(25, round(track.hr.value(t) + self.noise.gauss(f"{worker}:hr", math.floor(t), 1.5)))
        return HeartRate(bpm=bpm, contact=Contact.DETECTED, rr_s=(round(60 / bpm * 1024) / 1024,))

    def battery(self, worker: str, t: float) -> float:
        return round(min(100.0, max(0.0, self._workers[worker].battery.value(t))), 1)

    def panic(self, worker: str, t: float) -> bool:
        return self._workers[worker].panic.value(t)

    def checked_in(self, worker: str, t0: float, t1: float) -> bool:
        """Whether the worker checked in during (t0, t1]."""
        return self._workers[worker].checked_in(t0, t1)

    def wearable_online(self, worker: str, t: float) -> bool:
        return self._workers[worker].online.value(t)

    # -- detectors -------------------------------------------------------------
    def gases(self, detector: str) -> tuple[Gas, ...]:
        return self._detectors[detector].gases or DEFAULT_GASES

    def gas(self, detector: str, t: float) -> dict[Gas, float]:
        """Concentrations at the detector: its zone's (a portable's: its worker's
        zone), plus a leak at the detector, plus a source next to its worker."""
        d = self._detectors[detector]
        worker = self._owner.get(detector)
        if d.kind == "fixed":
            zones = [d.zone] if d.zone else []
        else:
            zones = self._zones_at(self.position(worker, t)) if worker else []
        out: dict[Gas, float] = {}
        for gas in self.gases(detector):
            value = next(
                (self._zone_gas[z, gas].value(t) for z in zones if (z, gas) in self._zone_gas),
                self._ambient.get(gas, 0.0),
            )
            if (detector, gas) in self._leak:
                value += self._leak[detector, gas].value(t)
            if worker and gas in self._workers[worker].gas:
                value += self._workers[worker].gas[gas].value(t)
            value += self.noise.gauss(f"{detector}:{gas.value}", math.floor(t), _GAS_NOISE.get(gas, 0.1))
            out[gas] = max(0.0, value) + (self._drift[detector, gas].value(t) if (detector, gas) in self._drift else 0.0)
        return out

    def detector_fault(self, detector: str, t: float) -> str | None:
        return self._fault[detector].value(t)

    def detector_online(self, detector: str, t: float) -> bool:
        return self._detector_online[detector].value(t)

    def _zones_at(self, p: Point) -> list[str]:
        """Ids of the zones containing ``p``, innermost first."""
        return [zid for zid, poly in self._zones if poly.contains(*p)]

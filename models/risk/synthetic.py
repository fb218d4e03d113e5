"""A deterministic generated site: readings, alarms and verdicts shaped like the synced tables.

For tests, demos and benchmarks of the risk model where no site's history is
at hand. Each worker carries a wearable (heart rate, motion, battery), a
portable four-gas detector and a GPS tag; each zone has a fixed H2S/LEL
detector. Values stay in realistic ranges (O2 20.9 %vol, H2S under 1 ppm,
CO a few ppm, resting-to-working heart rates, 1 g at rest), with noise,
contact losses and link outages.

Alarms happen every 40-80 minutes per worker and every one to two hours per zone. A *real* alarm
(confirmed by its verdict) has a precursor: the gas climbs, the heart rate
rises or the worker lies still with a weak pulse for minutes before the raise.
A *false* one (``false_alarm``) is a glitch at the raise on an otherwise calm
window. A share of each is made ambiguous (a sudden real leak, a drifting
sensor behind a false one) so that no model scores perfectly. Some alarms get
no verdict and some get a revised one (the later revision is the truth).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .examples import Origin

START_TS = 1_772_478_000.0
"""2026-03-02 19:00 UTC: an eight-hour shift runs into the night (22:00-06:00)."""
_PERIODS = {"gas": 10.0, "hr": 5.0, "motion": 5.0, "gps": 10.0, "battery": 60.0}
_BASE = {"O2": 20.9, "LEL": 0.5, "H2S": 0.2, "CO": 2.0}
_NOISE = {"O2": 0.05, "LEL": 0.3, "H2S": 0.15, "CO": 0.8}
_SET_POINT = {"O2": 19.5, "LEL": 10.0, "H2S": 10.0, "CO": 35.0}  # DOMAIN.md low set points
_ZONES = ("tank", "tunnel")
_EDGES = (("pi", "rpi4"), ("jetson", "jetson-orin-nano"))
_AMBIGUOUS = 0.15
_REAL = 0.55


@dataclass(frozen=True)
class SyntheticSite:
    """What a site synced: readings as columns, alarm and verdict rows as dicts, and its roster."""

    readings: dict[str, np.ndarray]  # device_id, device, kind, ts, v1, v2, v3
    alarms: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    roster: dict[str, list[str]]
    site_of: dict[str, Origin]

    @classmethod
    def merge(cls, sites: list[SyntheticSite]) -> SyntheticSite:
        """Several sites as one sync (their ids never collide: they start with the site name)."""
        return cls(
            readings={c: np.concatenate([s.readings[c] for s in sites]) for c in sites[0].readings},
            alarms=[a for s in sites for a in s.alarms],
            verdicts=[v for s in sites for v in s.verdicts],
            roster={k: v for s in sites for k, v in s.roster.items()},
            site_of={k: v for s in sites for k, v in s.site_of.items()},
        )


class _Columns:
    """Readings collected kind by kind, stacked at the end."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, edge: str, device: str, kind: str, ts: np.ndarray, v1: np.ndarray,
            v2: np.ndarray | None = None, v3: np.ndarray | None = None) -> None:
        nan = np.full(ts.size, np.nan)
        self.parts.append((edge, device, kind, ts, v1, nan if v2 is None else v2, nan if v3 is None else v3))

    def stack(self) -> dict[str, np.ndarray]:
        sizes = [p[3].size for p in self.parts]
        return {
            "device_id": np.repeat([p[0] for p in self.parts], sizes),
            "device": np.repeat([p[1] for p in self.parts], sizes),
            "kind": np.repeat([p[2] for p in self.parts], sizes),
            "ts": np.concatenate([p[3] for p in self.parts]),
            "v1": np.concatenate([p[4] for p in self.parts]),
            "v2": np.concatenate([p[5] for p in self.parts]),
            "v3": np.concatenate([p[6] for p in self.parts]),
        }


@dataclass(frozen=True, slots=True)
class _Event:
    raised: float
    real: bool
    ambiguous: bool
    kind: str  # gas_low | hr_high | man_down | zone_gas
    gas: str  # for the gas kinds


def generate_site(site: str = "site-a", seed: int = 0, workers: int = 12, hours: float = 8.0,
                  start_ts: float = START_TS) -> SyntheticSite:
    """One site's shift; the same arguments always give the same rows."""
    if workers < 1 or hours <= 0:
        raise ValueError(f"need at least one worker and a positive duration, got {workers} workers, {hours} h")
    rng = np.random.default_rng(seed)
    end_ts = start_ts + hours * 3600.0
    out = _Columns()
    alarms: list[dict[str, Any]] = []
    roster: dict[str, list[str]] = {}
    site_of = {f"{site}-{name}": Origin(site, kind) for name, kind in _EDGES}
    edges = list(site_of)
    for z, zone in enumerate(_ZONES):
        detector = f"{site}-fd-{zone}"
        roster[f"zone:{zone}"] = [detector]
        events = _schedule(rng, start_ts, end_ts, ("zone_gas",), ("H2S", "LEL"), (3600.0, 7200.0))
        _fixed_detector(out, rng, edges[z % 2], detector, start_ts, end_ts, events)
        members = [f"{site}-w{i:02d}" for i in range(workers) if i % len(_ZONES) == z]
        alarms += [_alarm(site, edges[z % 2], f"zone:{zone}", zone, members, e, n) for n, e in enumerate(events)]
    for i in range(workers):
        worker, edge, zone = f"{site}-w{i:02d}", edges[i % 2], _ZONES[i % len(_ZONES)]
        sensors = {"wearable": f"{site}-wb{i:02d}", "detector": f"{site}-gd{i:02d}", "tag": f"{site}-gps{i:02d}"}
        roster[worker] = list(sensors.values())
        events = _schedule(rng, start_ts, end_ts, ("gas_low", "hr_high", "man_down"), tuple(_BASE),
                           (2400.0, 4800.0))
        _worker(out, rng, edge, sensors, start_ts, end_ts, events)
        alarms += [_alarm(site, edge, f"worker:{worker}", zone, [worker], e, n) for n, e in enumerate(events)]
    verdicts = _verdicts(rng, alarms)
    for alarm in alarms:
        alarm.pop("_real")
    return SyntheticSite(out.stack(), alarms, verdicts, roster, site_of)


def _schedule(rng: np.random.Generator, start: float, end: float, kinds: tuple[str, ...],
              gases: tuple[str, ...], spacing: tuple[float, float]) -> list[_Event]:
    events, t = [], start + rng.uniform(300.0, spacing[1])
    while t < end - 600.0:
        events.append(_Event(float(t), bool(rng.random() < _REAL), bool(rng.random() < _AMBIGUOUS),
                             str(rng.choice(kinds)), str(rng.choice(gases))))
        t += rng.uniform(*spacing)
    return events


def _times(rng: np.random.Generator, start: float, end: float, period: float) -> np.ndarray:
    ts = np.arange(start + rng.uniform(0.0, period), end, period)
    return ts + rng.normal(0.0, period * 0.05, ts.size)


def _ramp(ts: np.ndarray, raised: float, rise_s: float) -> np.ndarray:
    """0 before the rise, up to 1 at the raise, held 3 minutes, back to 0 over 5 minutes."""
    up = np.clip((ts - (raised - rise_s)) / rise_s, 0.0, 1.0) ** 1.5
    down = np.clip(1.0 - (ts - raised - 180.0) / 300.0, 0.0, 1.0)
    return np.where(ts <= raised + 180.0, up, down)


def _glitch(ts: np.ndarray, raised: float) -> np.ndarray:
    """1 on the samples within 12 s of the raise (a bumped sensor, a bad contact)."""
    return (np.abs(ts - raised) <= 12.0).astype(np.float64)


def _shape(ts: np.ndarray, event: _Event, rng: np.random.Generator) -> np.ndarray:
    """0..1 profile of an event on a stream; real alarms climb, false ones glitch."""
    if event.real:
        rise_s = rng.uniform(20.0, 40.0) if event.ambiguous else rng.uniform(180.0, 330.0)
        return _ramp(ts, event.raised, rise_s)
    drift = 0.35 * _ramp(ts, event.raised, 300.0) if event.ambiguous else 0.0
    return np.maximum(_glitch(ts, event.raised), drift)


def _gas_values(rng: np.random.Generator, gas: str, ts: np.ndarray, events: list[_Event],
                kinds: set[str]) -> np.ndarray:
    values = _BASE[gas] + rng.normal(0.0, _NOISE[gas], ts.size)
    peak = (_SET_POINT[gas] - _BASE[gas]) * 1.15
    for event in events:
        if event.kind in kinds and event.gas == gas:
            values += peak * _shape(ts, event, rng)
    return values if gas == "O2" else np.maximum(values, 0.0)


def _fixed_detector(out: _Columns, rng: np.random.Generator, edge: str, detector: str, start: float, end: float,
                    events: list[_Event]) -> None:
    ts = _times(rng, start, end, _PERIODS["gas"])
    for gas in ("H2S", "LEL"):
        values = _gas_values(rng, gas, ts, events, {"zone_gas"})
        out.add(edge, detector, f"gas:{gas}", ts, values, np.full(ts.size, 100.0))


def _worker(out: _Columns, rng: np.random.Generator, edge: str, sensors: dict[str, str], start: float, end: float,
            events: list[_Event]) -> None:
    ts = _times(rng, start, end, _PERIODS["gas"])
    for gas in _BASE:
        out.add(edge, sensors["detector"], f"gas:{gas}", ts, _gas_values(rng, gas, ts, events, {"gas_low"}),
                np.full(ts.size, 25.0 if gas == "O2" else 100.0 if gas in ("LEL", "H2S") else 500.0))
    outages = [(t0, t0 + rng.uniform(60.0, 180.0)) for t0 in rng.uniform(start, end, 3)]
    _wearable(out, rng, edge, sensors["wearable"], start, end, events, outages)
    _tag(out, rng, edge, sensors["tag"], start, end)


def _online(ts: np.ndarray, outages: list[tuple[float, float]]) -> np.ndarray:
    keep = np.ones(ts.size, dtype=bool)
    for a, b in outages:
        keep &= ~((ts >= a) & (ts < b))
    return keep


def _wearable(out: _Columns, rng: np.random.Generator, edge: str, device: str, start: float, end: float,
              events: list[_Event], outages: list[tuple[float, float]]) -> None:
    ts = _times(rng, start, end, _PERIODS["hr"])
    ts = ts[_online(ts, outages)]
    resting = rng.uniform(68.0, 90.0)
    workload = 10.0 * np.sin(2.0 * np.pi * (ts - start) / rng.uniform(1800.0, 3600.0) + rng.uniform(0.0, 6.3))
    bpm = resting + 8.0 + workload + rng.normal(0.0, 3.0, ts.size)
    still = np.zeros(ts.size)
    weak = np.zeros(ts.size)
    for event in events:
        if event.kind == "hr_high":
            target = 175.0 - resting
            bpm += target * (_shape(ts, event, rng) if event.real else 0.3 * _glitch(ts, event.raised))
            if not event.real:
                bpm += 110.0 * _glitch(ts, event.raised)  # motion artefact: a few impossible beats
        elif event.kind == "man_down":
            lying = (ts >= event.raised - rng.uniform(130.0, 200.0)) & (ts <= event.raised + 120.0)
            still = np.maximum(still, lying)
            if event.real and not event.ambiguous:
                weak = np.maximum(weak, lying * _ramp(ts, event.raised, 150.0))
    bpm = bpm * (1.0 - 0.45 * weak)
    no_contact = rng.random(ts.size) < 0.02 + 0.5 * weak
    out.add(edge, device, "hr", ts, np.where(no_contact, 0.0, np.round(bpm)))
    active = 1.0 - still
    amplitude = 0.02 + 0.35 * active
    ax, ay = rng.normal(0.0, amplitude), rng.normal(0.0, amplitude)
    az = 1.0 + rng.normal(0.0, amplitude) * (0.5 + active)
    out.add(edge, device, "motion", ts, ax, ay, az)
    battery_ts = _times(rng, start, end, _PERIODS["battery"])
    battery_ts = battery_ts[_online(battery_ts, outages)]
    out.add(edge, device, "battery", battery_ts, np.clip(100.0 - (battery_ts - start) / 3600.0 * 6.0, 0.0, 100.0))


def _tag(out: _Columns, rng: np.random.Generator, edge: str, device: str, start: float, end: float) -> None:
    ts = _times(rng, start, end, _PERIODS["gps"])
    # back and forth between work spots tens of metres apart, with ~1 m of fix noise
    phase = 2.0 * np.pi * (ts - start) / rng.uniform(600.0, 1200.0) + rng.uniform(0.0, 6.3, 2)[:, None]
    lat = 51.5 + rng.uniform(-1e-3, 1e-3) + 4e-4 * np.sin(phase[0]) + rng.normal(0.0, 1e-5, ts.size)
    lon = -0.12 + rng.uniform(-1e-3, 1e-3) + 6e-4 * np.sin(phase[1]) + rng.normal(0.0, 1.5e-5, ts.size)
    out.add(edge, device, "gps", ts, lat, lon, rng.uniform(0.7, 2.5, ts.size).round(1))


_PRIORITY = {"gas_low": "medium", "hr_high": "medium", "man_down": "critical", "zone_gas": "high"}


def _alarm(site: str, edge: str, subject: str, zone: str, workers: list[str], event: _Event, n: int) -> dict[str, Any]:
    condition = {"gas_low": f"gas:{event.gas}", "zone_gas": f"zone_gas:{event.gas}"}.get(event.kind, event.kind)
    return {
        "device_id": edge, "site": site,
        "alarm_id": f"{site}-{subject.partition(':')[0]}-{subject.rpartition(':')[2]}-{n:03d}",
        "subject": subject, "condition": condition, "kind": event.kind, "priority": _PRIORITY[event.kind],
        "state": "normal", "message": f"{event.kind} on {subject}",
        "raised_ts": round(event.raised, 3), "updated_ts": round(event.raised + 300.0, 3),
        "latching": event.kind in ("gas_low", "zone_gas"), "condition_active": False,
        "value": None, "threshold": _SET_POINT.get(event.gas) if "gas" in event.kind else None,
        "zone": zone, "workers": workers, "sirens": [zone] if event.kind == "zone_gas" else [],
        "acked_by": "supervisor", "acked_via": "dashboard", "acked_ts": round(event.raised + 60.0, 3),
        "verdict": None, "_real": event.real,
    }


def _verdicts(rng: np.random.Generator, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """90 % of alarms get a verdict; 10 % of those first get the wrong one, revised an hour later."""
    rows = []
    for alarm in alarms:
        if rng.random() < 0.1:
            continue
        truth = "confirmed" if alarm["_real"] else "false_alarm"
        revisions = [truth]
        if rng.random() < 0.1:
            revisions.insert(0, "false_alarm" if alarm["_real"] else "confirmed")
        for k, verdict in enumerate(revisions):
            rows.append({
                "device_id": alarm["device_id"], "site": alarm["site"], "alarm_id": alarm["alarm_id"],
                "verdict": verdict, "by": "supervisor", "note": None, "ts": alarm["raised_ts"] + 90.0 + 3600.0 * k,
                "kind": alarm["kind"], "subject": alarm["subject"], "channel": "dashboard",
            })
        alarm["verdict"] = truth
    rng.shuffle(rows)  # the order rows arrive in says nothing about which revision is the latest
    return rows

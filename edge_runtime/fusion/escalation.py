"""What no single sensor can tell (DOMAIN.md, "Fusion").

- A fixed detector beyond a set point -> ``zone_gas:{gas}`` (ZONE_GAS) on the
  zone: every worker in it and the attendant are alerted and the zone siren
  sounds. Priority is the ZONE_GAS priority, raised to the detector band's own
  when that is higher (over-range is CRITICAL).
- Two or more detectors beyond a set point in one zone (fixed ones there, and
  portable ones carried by workers inside) -> ``evacuate`` (ZONE_EVACUATE).
- Man-down (NO_MOTION or FALL) with abnormal or missing heart rate ->
  ``man_down`` escalates to MAN_DOWN; once escalated it stays so until the
  worker moves (one event, one alarm; no flapping with each pulse reading).
  In a confined space the attendant is alerted and the zone siren sounds.
- Responders to a worker's emergency: supervisors (role "supervisor"),
  workers within ``man_down.nearby_m`` of the worker's last known position
  (theirs must be fresh) and attendants of confined spaces the worker is in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edge_runtime.alarms.model import AlarmKind, Notify
from edge_runtime.config.site import SiteConfig
from edge_runtime.geometry import Polygon

from .conditions import ConditionBoard, Level, worker_label, worker_subject, zone_label, zone_subject
from .geofence import Geofence
from .positions import PositionTracker

_MAN_DOWN = "man_down"


@dataclass(frozen=True, slots=True)
class _Episode:
    base: AlarmKind
    kind: AlarmKind
    confined: tuple[str, ...]
    problem: str | None


class Escalation:
    """Zone-level gas fusion, evacuation, man-down fusion and who responds."""

    def __init__(
        self, config: SiteConfig, board: ConditionBoard, geofence: Geofence, positions: PositionTracker
    ) -> None:
        self._board = board
        self._geofence = geofence
        self._positions = positions
        self._nearby_m = config.man_down.nearby_m
        self._zones = {z.id: z for z in config.zones}
        self._workers = {w.id: w for w in config.workers}
        self._supervisors = tuple(w.id for w in config.workers if w.role == "supervisor")
        self._fixed: dict[str, list[str]] = {z.id: [] for z in config.zones}
        self._fixed_zone: dict[str, str] = {}
        for d in config.detectors:
            if d.kind == "fixed" and d.zone in self._fixed:
                self._fixed[d.zone].append(d.id)
                self._fixed_zone[d.id] = d.zone
        self._nested_in = _nesting(config)
        self._owner = {w.detector: w.id for w in config.workers if w.detector}
        self._detector_of = {w.id: w.detector for w in config.workers if w.detector}
        self._zone_gas: dict[str, dict[str, dict[str, tuple[Level, float, str]]]] = {z.id: {} for z in config.zones}
        self._over: set[str] = set()
        self._episodes: dict[str, _Episode] = {}

    # -- gas in zones -----------------------------------------------------------------------

    def fixed_level(
        self, detector_id: str, zone_id: str, gas: str, level: Level | None, value: float, text: str, ts: float
    ) -> None:
        """A fixed detector's band for ``gas`` changed (``text`` describes it)."""
        per_detector = self._zone_gas[zone_id].setdefault(gas, {})
        if level is None:
            per_detector.pop(detector_id, None)
        else:
            per_detector[detector_id] = (level, value, text)
        self._report_zone_gas(zone_id, gas, ts)

    def detector_over(self, detector_id: str, over: bool, ts: float) -> None:
        """A detector went beyond a set point (or back within all of them): recount evacuation."""
        if over:
            self._over.add(detector_id)
        else:
            self._over.discard(detector_id)
        owner = self._owner.get(detector_id)
        fixed_zone = self._fixed_zone.get(detector_id)
        zones = tuple(self._geofence.zones_of(owner)) if owner else (fixed_zone,) if fixed_zone else ()
        for zone_id in zones:
            self._evacuate(zone_id, ts)

    def occupancy_changed(self, zone_id: str, ts: float) -> None:
        """Someone entered or left: zone alarms tell the new occupants, evacuation recounts."""
        for gas in self._zone_gas[zone_id]:
            self._report_zone_gas(zone_id, gas, ts)
        self._evacuate(zone_id, ts)

    def _report_zone_gas(self, zone_id: str, gas: str, ts: float) -> None:
        subject, condition = zone_subject(zone_id), f"zone_gas:{gas}"
        zone = self._zones[zone_id]
        detectors = self._zone_gas[zone_id].get(gas)
        if not detectors:
            self._board.clear(subject, condition, ts,
                              f"{gas} back within set points at every fixed detector in {zone_label(zone)}")
            return
        detector_id, (level, value, text) = max(detectors.items(), key=lambda kv: (kv[1][0].priority, kv[0]))
        more = f" (and {len(detectors) - 1} more detector(s))" if len(detectors) > 1 else ""
        self._board.raise_(
            subject, condition, AlarmKind.ZONE_GAS, ts,
            f"{text} on fixed detector {detector_id}{more} in {zone_label(zone)}: everyone in the zone alerted",
            priority=max(self._board.priority(AlarmKind.ZONE_GAS), level.priority),
            value=value, threshold=level.threshold, direction=level.direction,
            notify=self._zone_notify(zone_id), zone=zone_id,
        )

    def _evacuate(self, zone_id: str, ts: float) -> None:
        over = [d for d in self._fixed[zone_id] if d in self._over]
        over += [
            d for w in sorted(self._geofence.occupants(zone_id))
            if (d := self._detector_of.get(w)) in self._over and self._innermost(w, zone_id)
        ]
        label = zone_label(self._zones[zone_id])
        if len(over) < 2:
            self._board.clear(zone_subject(zone_id), "evacuate", ts,
                              f"{label}: fewer than two detectors beyond a set point")
            return
        self._board.raise_(
            zone_subject(zone_id), "evacuate", AlarmKind.ZONE_EVACUATE, ts,
            f"Evacuate {label}: {len(over)} detectors beyond a gas set point ({', '.join(over)})",
            notify=self._zone_notify(zone_id), zone=zone_id,
        )

    def _innermost(self, worker_id: str, zone_id: str) -> bool:
        """A portable reads the air of the innermost zone its carrier is in: a leak in a
        tank inside the yard evacuates the tank, not the whole yard."""
        return not any(zone_id in self._nested_in.get(z, ()) for z in self._geofence.zones_of(worker_id))

    def _zone_notify(self, zone_id: str) -> Notify:
        zone = self._zones[zone_id]
        workers = sorted(self._geofence.occupants(zone_id))
        if zone.attendant and zone.attendant not in workers:
            workers.append(zone.attendant)
        return Notify(workers=tuple(workers), sirens=(zone_id,) if zone.siren else ())

    # -- man-down ---------------------------------------------------------------------------

    def man_down(
        self, worker_id: str, base: AlarmKind | None, base_text: str, hr_problem: str | None, ts: float
    ) -> None:
        """Report ``man_down`` for a worker: ``base`` is NO_MOTION, FALL or None (moving)."""
        subject = worker_subject(worker_id)
        if base is None:
            if self._episodes.pop(worker_id, None) is not None:
                self._board.clear(subject, _MAN_DOWN, ts, f"{worker_label(self._workers[worker_id])} moving again")
            return
        episode = self._episodes.get(worker_id)
        escalated = episode is not None and episode.kind is AlarmKind.MAN_DOWN
        kind = AlarmKind.MAN_DOWN if hr_problem or escalated else base
        zones = self._geofence.zones_of(worker_id)
        confined = tuple(sorted(z for z in zones if self._zones[z].hazard == "confined_space"))
        if episode is not None and (episode.base, episode.kind, episode.confined) == (base, kind, confined):
            return
        problem = hr_problem or (episode.problem if episode else None)
        message = base_text
        if kind is AlarmKind.MAN_DOWN:
            message += f"; {problem}: possible medical emergency"
        if confined:
            where = ", ".join(zone_label(self._zones[z]) for z in confined)
            message += f"; in confined space {where}: attendant alerted, siren on"
        self._episodes[worker_id] = _Episode(base, kind, confined, problem)
        sirens = tuple(z for z in confined if self._zones[z].siren)
        self._board.raise_(
            subject, _MAN_DOWN, kind, ts, message,
            notify=Notify(workers=self.responders(worker_id, ts), sirens=sirens),
            zone=confined[0] if confined else None,
        )

    def responders(self, worker_id: str, now: float) -> tuple[str, ...]:
        """The worker, supervisors, workers nearby and attendants of confined spaces the worker is in."""
        out = [worker_id, *self._supervisors]
        here = self._positions.get(worker_id)  # a downed worker has not moved: the last fix will do
        if here is not None and self._nearby_m > 0:
            for other in self._workers:
                pos = self._positions.fresh(other, now) if other != worker_id else None
                if pos is not None and math.hypot(pos.x - here.x, pos.y - here.y) <= self._nearby_m:
                    out.append(other)
        for zone_id in sorted(self._geofence.zones_of(worker_id)):
            zone = self._zones[zone_id]
            if zone.hazard == "confined_space" and zone.attendant:
                out.append(zone.attendant)
        return tuple(dict.fromkeys(out))


def _nesting(config: SiteConfig) -> dict[str, frozenset[str]]:
    """zone id -> ids of the other zones that wholly contain it."""
    polygons = {z.id: Polygon(z.polygon) for z in config.zones}
    return {
        inner.id: frozenset(
            outer.id for outer in config.zones
            if outer.id != inner.id and all(polygons[outer.id].contains(x, y) for x, y in inner.polygon)
        )
        for inner in config.zones
    }

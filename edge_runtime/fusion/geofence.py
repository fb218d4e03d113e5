"""Zone occupancy with hysteresis and dwell, and the zone entry rules.

Occupancy (per worker and zone) only changes on a fresh fix:
- enter when the fix is inside by at least the margin, and stays inside the
  polygon for ``zone.dwell_s`` (a brief incursion is not an entry);
- leave when the fix is outside by at least the margin;
- margin = min(max_margin_m, hysteresis_factor × HDOP × UERE), so a fix jittering
  on a boundary never flaps. For entry the margin is capped at half the zone's
  deepest interior point: a 3 m manhole must still be enterable with a 10 m
  GPS error. A stale position never changes occupancy (DOMAIN.md); a pending
  entry whose fixes stop (GPS is often lost inside a confined space) still
  completes its dwell, because nothing showed the worker leaving.

Rules (condition ``geofence:{zone}``, kind GEOFENCE): a restricted zone
occupied by a worker not authorised for it (``zone.authorised`` or the
worker's ``authorised_zones``); a zone that requires a gas monitor (confined
spaces unless ``gas_monitor_required`` says otherwise) occupied by a worker
without a live portable detector. Crane-radius zones are tracked for
occupancy only: no reading tells whether a crane is working, so proximity to
the crane's tag (proximity.py) is the rule that protects there.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.alarms.model import AlarmKind, Notify
from edge_runtime.config.people import Worker
from edge_runtime.config.zones import Zone
from edge_runtime.geometry import Polygon

from .conditions import ConditionBoard, worker_label, worker_subject, zone_label


class _State(enum.Enum):
    OUTSIDE = 0
    PENDING = 1  # inside by the margin, waiting for the dwell time
    INSIDE = 2


@dataclass(slots=True)
class _Occupancy:
    state: _State = _State.OUTSIDE
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class _ZoneGeom:
    zone: Zone
    polygon: Polygon
    enter_cap: float  # entry margin never exceeds half the deepest interior point
    needs_monitor: bool
    has_rules: bool


Change = tuple[str, str, bool]  # (worker id, zone id, entered)
_OUTSIDE = _State.OUTSIDE  # module constant: the per-fix loop avoids an attribute look-up per zone


class Geofence:
    """Who is in which zone, and the GEOFENCE rules that follow from it."""

    def __init__(
        self,
        zones: tuple[Zone, ...],
        workers: tuple[Worker, ...],
        board: ConditionBoard,
        has_live_detector: Callable[[str], bool],
    ) -> None:
        self._board = board
        self._has_live_detector = has_live_detector
        self._workers = {w.id: w for w in workers}
        self._zones: list[_ZoneGeom] = []
        for z in zones:
            poly = Polygon(z.polygon)
            needs = z.gas_monitor_required if z.gas_monitor_required is not None else z.hazard == "confined_space"
            self._zones.append(_ZoneGeom(z, poly, poly.max_depth / 2, needs, needs or z.hazard == "restricted"))
        self._by_id = {g.zone.id: g for g in self._zones}
        self._boxes = [(g.polygon.min_x, g.polygon.max_x, g.polygon.min_y, g.polygon.max_y, g.polygon, g)
                       for g in self._zones]
        self._occ: dict[str, list[_Occupancy]] = {w.id: [_Occupancy() for _ in self._zones] for w in workers}
        self._inside: dict[str, set[str]] = {w.id: set() for w in workers}
        self._occupants: dict[str, set[str]] = {z.id: set() for z in zones}
        self._pending: dict[tuple[str, str], tuple[_ZoneGeom, _Occupancy]] = {}  # only these need the tick

    def zones_of(self, worker_id: str) -> set[str]:
        return self._inside.get(worker_id, set())

    def occupants(self, zone_id: str) -> set[str]:
        return self._occupants.get(zone_id, set())

    def update(self, worker_id: str, x: float, y: float, margin: float, ts: float) -> list[Change]:
        """Apply one fresh fix; returns the occupancy changes it caused.

        Edge distances are computed only where a change is possible (a fix inside
        a zone it is not yet in, or outside one it is in): a fix costs a bounding-
        box test per zone otherwise."""
        changes: list[Change] = []
        for (x0, x1, y0, y1, poly, geom), occ in zip(self._boxes, self._occ[worker_id], strict=True):
            in_box = x0 <= x <= x1 and y0 <= y <= y1
            state = occ.state
            if state is _OUTSIDE:
                if in_box and poly.contains(x, y) and poly.edge_distance(x, y) >= min(margin, geom.enter_cap):
                    self._set(worker_id, geom, occ, _State.PENDING, ts, changes)
                    self._settle(worker_id, geom, occ, ts, changes)
                continue
            inside = in_box and poly.contains(x, y)
            if state is _State.PENDING:
                if inside:
                    self._settle(worker_id, geom, occ, ts, changes)
                else:
                    self._set(worker_id, geom, occ, _State.OUTSIDE, ts, changes)
            elif not inside and (poly.bbox_gap(x, y) >= margin or poly.edge_distance(x, y) >= margin):
                self._set(worker_id, geom, occ, _State.OUTSIDE, ts, changes)
        return changes

    def tick(self, now: float) -> list[Change]:
        """Complete pending entries whose dwell time has passed."""
        changes: list[Change] = []
        for (worker_id, _zone_id), (geom, occ) in list(self._pending.items()):
            self._settle(worker_id, geom, occ, now, changes)
        return changes

    def recheck(self, worker_id: str, ts: float) -> None:
        """Re-apply the rules for a worker whose detector came alive or went stale."""
        for zone_id in self.zones_of(worker_id):
            self.apply_rules(worker_id, zone_id, ts)

    def apply_rules(self, worker_id: str, zone_id: str, ts: float) -> None:
        """Raise or clear ``geofence:{zone}`` for one worker after an occupancy change."""
        geom = self._by_id[zone_id]
        if not geom.has_rules:
            return
        zone, worker = geom.zone, self._workers[worker_id]
        reasons: list[str] = []
        if zone_id in self._inside[worker_id]:
            authorised = worker_id in zone.authorised or zone_id in worker.authorised_zones
            if zone.hazard == "restricted" and not authorised:
                reasons.append("is not authorised for this restricted zone")
            if geom.needs_monitor and not self._has_live_detector(worker_id):
                reasons.append("has no working portable gas detector, required in this zone")
        subject, condition = worker_subject(worker_id), f"geofence:{zone_id}"
        label = worker_label(worker)
        if not reasons:
            self._board.clear(subject, condition, ts, f"{label} no longer in breach of {zone_label(zone)}")
            return
        attendant = (zone.attendant,) if zone.attendant and zone.attendant != worker_id else ()
        self._board.raise_(
            subject, condition, AlarmKind.GEOFENCE, ts,
            f"{label} in {zone_label(zone)} {' and '.join(reasons)}",
            notify=Notify(workers=(worker_id, *attendant)), zone=zone_id,
        )

    def _settle(self, worker_id: str, geom: _ZoneGeom, occ: _Occupancy, now: float, changes: list[Change]) -> None:
        if now - occ.since >= geom.zone.dwell_s:
            self._set(worker_id, geom, occ, _State.INSIDE, now, changes)

    def _set(
        self, worker_id: str, geom: _ZoneGeom, occ: _Occupancy, state: _State, ts: float, changes: list[Change]
    ) -> None:
        was_inside = occ.state is _State.INSIDE
        occ.state, occ.since = state, ts
        zone_id = geom.zone.id
        if state is _State.PENDING:
            self._pending[(worker_id, zone_id)] = (geom, occ)
        else:
            self._pending.pop((worker_id, zone_id), None)
        if state is _State.INSIDE and not was_inside:
            self._inside[worker_id].add(zone_id)
            self._occupants[zone_id].add(worker_id)
            changes.append((worker_id, zone_id, True))
        elif was_inside and state is not _State.INSIDE:
            self._inside[worker_id].discard(zone_id)
            self._occupants[zone_id].discard(worker_id)
            changes.append((worker_id, zone_id, False))


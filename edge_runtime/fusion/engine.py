"""FusionEngine: routes observations to the rules and runs their timers.

The engine owns no rule of its own: it maps a device id to the handlers its
role needs (wearable, portable detector, GPS tag, fixed detector, equipment
tag), built once from the site config so an observation costs two dict
look-ups before its rule runs, and it relays the few facts that cross rules
(occupancy changes, man-down state, detector liveness).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from edge_runtime.alarms.model import ConditionUpdate, Notify, PreAlarm
from edge_runtime.config.site import SiteConfig
from edge_runtime.geometry import LocalFrame
from firmware_bridge.readings import (
    Battery,
    CheckIn,
    DetectorStatus,
    GasSample,
    GpsFix,
    HeartRate,
    Motion,
    Observation,
    PanicButton,
)

from .battery import BatteryMonitor
from .conditions import NOBODY, ConditionBoard, device_subject, worker_label, worker_subject
from .escalation import Escalation
from .gas_monitor import GasMonitor
from .geofence import Change, Geofence
from .heart_rate import HeartRateMonitor
from .positions import PositionTracker
from .proximity import ProximityMonitor
from .wearables import WearableMonitor

log = logging.getLogger(__name__)

Handler = Callable[[Any, float], None]
_SNAPSHOT_VERSION = 1


class FusionEngine:
    """Per-worker and per-zone state and every DOMAIN.md rule, as ConditionUpdates.

    Observation timestamps and ``clock`` must share one time base (wall-clock
    seconds). Not thread-safe: call it from the event loop only.
    """

    def __init__(
        self,
        config: SiteConfig,
        emit: Callable[[ConditionUpdate], None],
        emit_pre_alarm: Callable[[PreAlarm], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        start = clock()
        self.unknown_devices = 0
        self._unexpected: set[tuple[str, type]] = set()
        board = self._board = ConditionBoard(config.alarms, emit, emit_pre_alarm)
        frame = LocalFrame(config.site.origin_lat, config.site.origin_lon)
        self._positions = PositionTracker(frame, config.positions, board)
        self._geofence = Geofence(config.zones, config.workers, board, lambda w: self._gas.live(w))
        self._escalation = Escalation(config, board, self._geofence, self._positions)
        self._gas = GasMonitor(config, board, self._escalation, self._geofence.recheck, start)
        self._proximity = ProximityMonitor(config.proximity, config.equipment, config.workers, board)
        self._hr = HeartRateMonitor(config.heart_rate, config.workers, board)
        self._wearables = WearableMonitor(config, board, self._escalation.responders, self._update_man_down)
        owners = {
            dev: (w.id, worker_label(w)) for w in config.workers for dev in (w.wearable, w.detector, w.gps) if dev
        }
        self._battery = BatteryMonitor(config.battery, board, owners)
        self._gps_workers = [w.id for w in config.workers if w.gps]
        self._routes = self._build_routes()
        self._minute = int(start // 60)

    # -- inputs -----------------------------------------------------------------------------

    def on_observation(self, obs: Observation) -> None:
        """Route one reading by its device; unconfigured devices are counted and dropped."""
        handlers = self._routes.get(obs.device)
        if handlers is None:
            self.unknown_devices += 1
            return
        handler = handlers.get(type(obs.reading))
        if handler is None:
            key = (obs.device, type(obs.reading))
            if key not in self._unexpected:
                self._unexpected.add(key)
                log.warning("device %s sent a %s, which its configured role does not use: dropped",
                            obs.device, type(obs.reading).__name__)
            return
        handler(obs.reading, obs.ts)

    def tick(self, now: float | None = None) -> None:
        """Run every timer: staleness, dwell, no-motion, pre-alarm deadlines, check-ins, minutes."""
        now = self._clock() if now is None else now
        self._positions.tick(now)
        self._occupancy(self._geofence.tick(now), now)
        self._wearables.tick(now)
        self._hr.tick(now, lambda worker_id, since: self._wearables.heard_after(worker_id, since, now))
        self._gas.tick(now)
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._gas.minute(now)
        for worker_id in self._wearables.downed():
            self._update_man_down(worker_id, now)  # a pulse that stops arriving is "missing"

    def cancel_pre_alarm(self, worker: str) -> bool:
        """The worker pressed cancel on the wearable; True if a pre-alarm was pending."""
        return self._wearables.cancel(worker, self._clock())

    def check_in(self, worker: str) -> None:
        if self._config.worker(worker) is None:
            log.warning("check-in for unknown worker %r ignored", worker)
            return
        self._wearables.check_in(worker, self._clock())

    # -- state for the store and dashboards -------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable exposure accumulators (minute values, shift sums, STEL periods)."""
        return {"version": _SNAPSHOT_VERSION, "exposure": self._gas.exposure.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        """After a restart: STEL/TWA continue where they were (missed minutes count as 0)."""
        if state.get("version") != _SNAPSHOT_VERSION:
            log.warning("fusion snapshot version %r not understood: exposure starts from zero", state.get("version"))
            return
        self._gas.exposure.restore(state.get("exposure", {}))

    def worker_view(self, worker_id: str) -> dict[str, Any]:
        """Position, zones, heart rate, gas with STEL/TWA, batteries and last seen of one worker."""
        worker = self._config.worker(worker_id)
        if worker is None:
            raise KeyError(worker_id)
        now = self._clock()
        pos = self._positions.get(worker_id)
        position = None
        if pos is not None:
            age = now - pos.ts
            position = {"x": pos.x, "y": pos.y, "lat": pos.lat, "lon": pos.lon, "hdop": pos.hdop,
                        "ts": pos.ts, "age_s": age, "stale": age > self._config.positions.stale_after_s}
        gas = self._gas.worker_gas(worker_id)
        wearable = self._wearables.view(worker_id, now)
        seen = [t for t in (pos.ts if pos else None, wearable["last_seen"] if wearable else None,
                            *(g.get("ts") for g in gas.values())) if t is not None]
        devices = (worker.wearable, worker.detector, worker.gps)
        return {
            "worker": worker.id,
            "name": worker.name,
            "position": position,
            "zones": sorted(self._geofence.zones_of(worker_id)),
            "hr": self._hr.view(worker_id, now),
            "gas": gas,
            "wearable": wearable,
            "battery": {d: p for d in devices if d and (p := self._battery.percent(d)) is not None},
            "last_seen": max(seen) if seen else None,
        }

    def on_exposure_minute(self, record: Callable[[str, str, float, float], None]) -> None:
        """``record(worker, gas, minute_ts, mean)`` for every closed exposure minute (the store's
        exposure_minutes: shift reports and the cloud's history)."""
        self._gas.exposure.on_minute = record

    def equipment_position(self, equipment_id: str) -> tuple[float, float] | None:
        """Site (x, y) of a piece of equipment: its GPS tag's last fix, else its configured position."""
        pos = self._positions.get(f"equipment:{equipment_id}")
        if pos is not None:
            return (pos.x, pos.y)
        equipment = next((e for e in self._config.equipment if e.id == equipment_id), None)
        return equipment.position if equipment is not None else None

    def zone_occupants(self, zone_id: str) -> set[str]:
        return set(self._geofence.occupants(zone_id))

    def fresh_positions(self, now: float | None = None) -> dict[str, tuple[float, float]]:
        """Site (x, y) of every worker whose tag position is fresh (cameras match people to tags)."""
        now = self._clock() if now is None else now
        return {w: (p.x, p.y) for w in self._gps_workers if (p := self._positions.fresh(w, now)) is not None}

    def responders(self, worker_id: str) -> tuple[str, ...]:
        """Who answers this worker's emergency: the worker, supervisors, workers nearby, attendants."""
        return self._escalation.responders(worker_id, self._clock())

    # -- routing ----------------------------------------------------------------------------

    def _build_routes(self) -> dict[str, dict[type, Handler]]:
        routes: dict[str, dict[type, Handler]] = {}

        def add(device: str, handlers: dict[type, Handler]) -> None:
            routes.setdefault(device, {}).update(handlers)

        for d in self._config.detectors:
            add(d.id, {
                GasSample: partial(self._gas.sample, d.id),
                DetectorStatus: partial(self._gas.status, d.id),
                Battery: partial(self._on_battery, d.id),
            })
        for e in self._config.equipment:
            if e.gps:
                self._positions.track(f"equipment:{e.id}", device_subject(e.gps), f"equipment {e.id}", NOBODY)
                add(e.gps, {GpsFix: partial(self._on_equipment_fix, e.id), Battery: partial(self._on_battery, e.gps)})
        for w in self._config.workers:
            if w.gps:
                self._positions.track(w.id, worker_subject(w.id), worker_label(w), Notify(workers=(w.id,)))
                add(w.gps, {GpsFix: partial(self._on_worker_fix, w.id), Battery: partial(self._on_battery, w.gps)})
            if w.wearable:  # last: a wearable that is also the GPS tag still counts as telemetry
                add(w.wearable, {
                    Motion: partial(self._wearables.motion, w.id),
                    HeartRate: partial(self._on_heart_rate, w.id),
                    PanicButton: partial(self._on_panic, w.id),
                    CheckIn: partial(self._on_check_in, w.id),
                    Battery: partial(self._on_wearable_battery, w.id, w.wearable),
                })
        return routes

    def _on_battery(self, device: str, r: Battery, ts: float) -> None:
        self._battery.reading(device, r.percent, ts)

    def _on_wearable_battery(self, worker_id: str, device: str, r: Battery, ts: float) -> None:
        self._wearables.seen(worker_id, ts)
        self._battery.reading(device, r.percent, ts)

    def _on_heart_rate(self, worker_id: str, r: HeartRate, ts: float) -> None:
        self._wearables.seen(worker_id, ts)
        self._hr.sample(worker_id, r, ts)
        if self._wearables.is_down(worker_id):
            self._update_man_down(worker_id, ts)

    def _on_panic(self, worker_id: str, r: PanicButton, ts: float) -> None:
        self._wearables.panic(worker_id, r.pressed, ts)

    def _on_check_in(self, worker_id: str, r: CheckIn, ts: float) -> None:
        self._wearables.seen(worker_id, ts)
        self._wearables.check_in(worker_id, ts)

    def _on_worker_fix(self, worker_id: str, fix: GpsFix, ts: float) -> None:
        pos = self._positions.update(worker_id, fix, ts)
        if pos is None:
            return
        self._occupancy(self._geofence.update(worker_id, pos.x, pos.y, self._positions.margin(pos), ts), ts)
        self._proximity.worker_moved(worker_id, pos.x, pos.y, ts)

    def _on_equipment_fix(self, equipment_id: str, fix: GpsFix, ts: float) -> None:
        pos = self._positions.update(f"equipment:{equipment_id}", fix, ts)
        if pos is None:
            return
        workers = [(w, p.x, p.y) for w in self._gps_workers if (p := self._positions.fresh(w, ts)) is not None]
        self._proximity.equipment_moved(equipment_id, pos.x, pos.y, ts, workers)

    def _occupancy(self, changes: list[Change], ts: float) -> None:
        for worker_id, zone_id, _entered in changes:
            self._geofence.apply_rules(worker_id, zone_id, ts)
            self._escalation.occupancy_changed(zone_id, ts)
            if self._wearables.is_down(worker_id):
                self._update_man_down(worker_id, ts)  # confined space: attendant and siren

    def _update_man_down(self, worker_id: str, ts: float) -> None:
        base, text = self._wearables.down(worker_id)
        problem = self._hr.problem(worker_id, ts) if base is not None else None
        self._escalation.man_down(worker_id, base, text, problem, ts)

"""Every gas detector's rules together, fed by the fusion engine.

The rules are one module each: gas_setpoints.py (bands per reading),
detector_faults.py (drift, reported faults, LEL poisoning), gas_staleness.py
(per tick), maintenance.py (bump/calibration due) and gas_exposure_alarms.py
(STEL/TWA per reading and per minute, over gas_exposure.py's arithmetic);
their state is gas_detectors.py's. This module builds each detector's state
and routes readings, reported dates and timers to them, in this order per
reading: reported fault, exposure, set points, drift and poisoning.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge_runtime.alarms.model import Notify
from edge_runtime.config.site import SiteConfig
from firmware_bridge.readings import DetectorStatus, Gas, GasSample

from .conditions import ConditionBoard, device_subject, worker_label, worker_subject, zone_label
from .detector_faults import DetectorFaultRule
from .escalation import Escalation
from .gas_detectors import DetectorState, Sensor
from .gas_exposure import ExposureBook
from .gas_exposure_alarms import ExposureAlarmRule
from .gas_setpoints import SetPointRule
from .gas_staleness import StalenessRule
from .maintenance import MaintenanceRule, config_date


class GasMonitor:
    """Every detector's set points and faults, and every worker's exposure."""

    def __init__(
        self,
        config: SiteConfig,
        board: ConditionBoard,
        zones: Escalation,
        on_liveness: Callable[[str, float], None],
        start: float,
    ) -> None:
        self._on_liveness = on_liveness
        self._workers = {w.id: w for w in config.workers}
        self._set_points = SetPointRule(config.gas, board, zones)
        self._faults = DetectorFaultRule(config.gas.faults, board)
        self._staleness = StalenessRule(board, self._live_changed)
        self._maintenance = MaintenanceRule(config.gas.faults, board)
        self._exposure_alarms = ExposureAlarmRule(config.gas, board)
        owners = {w.detector: w for w in config.workers if w.detector}
        zone_by_id = {z.id: z for z in config.zones}
        self._detectors: dict[str, DetectorState] = {}
        for d in config.detectors:
            owner = owners.get(d.id) if d.kind == "portable" else None
            if owner is not None:
                where = f"at worker {worker_label(owner)}"
            elif d.kind == "fixed" and d.zone in zone_by_id:
                where = f"in {zone_label(zone_by_id[d.zone])}"
            else:
                where = "(not assigned to a worker)"
            det = DetectorState(
                cfg=d, owner=owner, subject=device_subject(d.id),
                target=worker_subject(owner.id) if owner else device_subject(d.id), where=where,
                notify=Notify(workers=(owner.id,)) if owner else Notify(),
                last_bump=config_date(d.last_bump, d.id), last_calibration=config_date(d.last_calibration, d.id),
                stale_after=max(config.gas.faults.stale_after_s, d.period_s),
            )
            self._detectors[d.id] = det
            if d.kind == "fixed":
                self._activate(det, start)
        self.exposure = ExposureBook(config.gas.exposure, self._workers)

    # -- readings ---------------------------------------------------------------------------

    def sample(self, detector_id: str, s: GasSample, ts: float) -> None:
        """One concentration: exposure, set points, drift and poisoning."""
        det = self._detectors[detector_id]
        sensor = det.sensors.get(s.gas)
        if sensor is None:
            self._activate(det, ts, s.gas)
            sensor = det.sensors[s.gas]
        sensor.last_ts = ts
        if not det.live or sensor.stale:
            self._staleness.check(det, ts)
        value, fault = self._set_points.reading(sensor, s)
        if fault != sensor.fault:
            self._faults.reported(det, sensor, fault, ts)
        if fault is not None or value is None:
            return  # an unusable reading neither raises nor clears anything
        sensor.value = value
        sp = sensor.set_points
        if det.owner is not None and sp is not None and (sp.stel is not None or sp.twa is not None):
            self._exposure_alarms.judge(det.owner, s.gas, self.exposure.add(det.owner.id, s.gas, ts, value), ts)
        self._set_points.judge(det, sensor, s, value, ts)
        self._faults.judge(det, sensor, s, value, ts)

    def status(self, detector_id: str, st: DetectorStatus, ts: float) -> None:
        """Bump/calibration dates reported by the detector (newer than config wins)."""
        det = self._detectors[detector_id]
        self._maintenance.dates(det, st)
        self._faults.bump_tested(det, ts)
        self._maintenance.judge(det, ts)

    # -- timers -----------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Stale sensors and detectors."""
        self._staleness.tick(self._detectors.values(), now)

    def minute(self, now: float) -> None:
        """Close exposure minutes (STEL/TWA alarms) and judge bump/calibration dates."""
        for worker_id, gas, exp in self.exposure.roll(now):
            self._exposure_alarms.judge(self._workers[worker_id], gas, exp, now)
        for det in self._detectors.values():
            self._maintenance.judge(det, now)

    # -- queries ----------------------------------------------------------------------------

    def live(self, worker_id: str) -> bool:
        """Whether the worker carries a portable detector that is reporting."""
        worker = self._workers.get(worker_id)
        det = self._detectors.get(worker.detector) if worker and worker.detector else None
        return det is not None and det.live

    def worker_gas(self, worker_id: str) -> dict[str, dict[str, Any]]:
        """Latest reading, band and exposure per gas of a worker (dashboards)."""
        worker = self._workers[worker_id]
        out: dict[str, dict[str, Any]] = {}
        det = self._detectors.get(worker.detector) if worker.detector else None
        if det is not None:
            for gas, sensor in det.sensors.items():
                out[gas.value] = {
                    "value": sensor.value, "unit": sensor.unit, "ts": sensor.last_ts,
                    "stale": sensor.stale or det.all_stale, "fault": sensor.fault,
                    "band": sensor.levels[sensor.level].name if sensor.level is not None else None,
                }
        for gas, exp in self.exposure.of(worker_id).items():
            out.setdefault(gas.value, {}).update(stel=exp.stel, twa=exp.twa, stel_periods=exp.stel_periods)
        return out

    # -- internals --------------------------------------------------------------------------

    def _activate(self, det: DetectorState, ts: float, gas: Gas | None = None) -> None:
        """Create sensors for the configured gases (and ``gas``), all expected from ``ts``."""
        for g in (*det.cfg.gases, *((gas,) if gas is not None else ())):
            if g not in det.sensors:
                sp, levels = self._set_points.bands(g)
                unit = sp.unit if sp is not None else ""
                det.sensors[g] = Sensor(g, unit, sp, levels, self._faults.drift_bands(sp), ts)

    def _live_changed(self, det: DetectorState, now: float) -> None:
        if det.live:
            self._maintenance.judge(det, now)
        if det.owner is not None:
            self._on_liveness(det.owner.id, now)

"""Gas rules: set points, detector faults and the STEL/TWA alarms of a worker.

Per reading (a few comparisons; messages are built only on a change):
- set points as bands ``gas:{gas}``: GAS_LOW -> GAS_HIGH -> GAS_OVER_RANGE on
  the worker carrying the detector (O2 both ways: below ``low`` is deficiency,
  above ``high`` enrichment). Over-range (the detector's flag, its full scale,
  or ``over_range``) is CRITICAL: > 100 %LEL is an explosion hazard, not a
  fault to hide. A fixed detector's bands go to the zone (escalation.py).
- negative drift beyond ``drift_fraction_of_low`` × low (``gas_fault:{gas}:drift``);
- a detector-reported fault, or a unit that cannot be compared with the set
  points, makes the reading unusable (``gas_fault:{gas}:reported``);
- H2S above ``lel_poison_h2s_ppm`` on a detector with an LEL sensor
  (``gas_fault:LEL:poisoned``) until a bump test newer than the exposure.
Per tick: stale sensors (``gas_fault:{gas}:stale``, or ``gas_fault:all:stale``
when the whole detector went quiet). Per minute: STEL/TWA (``stel:{gas}``,
``twa:{gas}`` on the worker) and bump/calibration due (``gas_fault:all:...``,
judged only for detectors in use and with a known date).
Fixed detectors are expected from start-up; a portable one once it has spoken.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edge_runtime.alarms.model import AlarmKind, Notify, Priority, Subject
from edge_runtime.config.devices import Detector
from edge_runtime.config.gas import GasSetPoints
from edge_runtime.config.people import Worker
from edge_runtime.config.site import SiteConfig
from firmware_bridge.readings import DetectorStatus, Gas, GasSample

from .conditions import ConditionBoard, Level, classify, device_subject, worker_label, worker_subject, zone_label
from .escalation import Escalation
from .gas_exposure import Exposure, ExposureBook

log = logging.getLogger(__name__)

_UNIT_SCALE = {("ppb", "ppm"): 1e-3, ("ppm", "ppb"): 1e3, ("%vol", "ppm"): 1e4, ("ppm", "%vol"): 1e-4}
_ALL = "all"  # condition segment for faults of the whole detector


@dataclass(slots=True)
class _Sensor:
    gas: Gas
    unit: str
    set_points: GasSetPoints | None
    levels: tuple[Level, ...]
    drift: tuple[Level, ...]
    last_ts: float
    value: float | None = None
    level: int | None = None
    drift_level: int | None = None
    stale: bool = False
    fault: str | None = None


@dataclass(slots=True)
class _Detector:
    cfg: Detector
    owner: Worker | None
    subject: Subject
    target: Subject  # gas levels are about the worker carrying it (the device if unassigned)
    where: str  # "at worker Ana (w07)" / "in Tank 3 (z1)" / "(not assigned to a worker)"
    notify: Notify
    last_bump: float | None
    last_calibration: float | None
    stale_after: float
    sensors: dict[Gas, _Sensor] = field(default_factory=dict)
    poisoned_ts: float | None = None
    all_stale: bool = False
    some_stale: bool = False
    live: bool = False
    over: bool = False  # any gas beyond a set point


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
        self._board = board
        self._zones = zones
        self._on_liveness = on_liveness
        self._gas = config.gas
        self._workers = {w.id: w for w in config.workers}
        owners = {w.detector: w for w in config.workers if w.detector}
        zone_by_id = {z.id: z for z in config.zones}
        self._detectors: dict[str, _Detector] = {}
        for d in config.detectors:
            owner = owners.get(d.id) if d.kind == "portable" else None
            if owner is not None:
                where = f"at worker {worker_label(owner)}"
            elif d.kind == "fixed" and d.zone in zone_by_id:
                where = f"in {zone_label(zone_by_id[d.zone])}"
            else:
                where = "(not assigned to a worker)"
            det = _Detector(
                cfg=d, owner=owner, subject=device_subject(d.id),
                target=worker_subject(owner.id) if owner else device_subject(d.id), where=where,
                notify=Notify(workers=(owner.id,)) if owner else Notify(),
                last_bump=_epoch(d.last_bump, d.id), last_calibration=_epoch(d.last_calibration, d.id),
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
            self._check_stale(det, ts)
        value: float | None = s.value
        sp = sensor.set_points
        if sp is not None and s.unit != sp.unit:
            scale = _UNIT_SCALE.get((s.unit, sp.unit))
            value = s.value * scale if scale is not None else None
        elif sp is None:
            sensor.unit = s.unit  # no set points to compare with: show what the detector says
        fault = s.fault
        if value is None and not fault:
            fault = f"unit {s.unit} not comparable with set points in {sensor.unit}"
        if fault != sensor.fault:
            self._reported_fault(det, sensor, fault, ts)
        if fault is not None or value is None:
            return  # an unusable reading neither raises nor clears anything
        sensor.value = value
        if det.owner is not None and sp is not None and (sp.stel is not None or sp.twa is not None):
            self._exposure_alarms(det.owner, s.gas, self.exposure.add(det.owner.id, s.gas, ts, value), ts)
        if sensor.levels:
            over = s.over_range or (s.full_range is not None and s.value >= s.full_range)  # both in the sample's unit
            level = 0 if over else classify(sensor.levels, value, sensor.level)
            if level != sensor.level:
                self._level_changed(det, sensor, level, value, ts)
        if sensor.drift:
            drift = classify(sensor.drift, value, sensor.drift_level)
            if drift != sensor.drift_level:
                self._drift_changed(det, sensor, drift, value, ts)
        if s.gas is Gas.H2S and (value > self._gas.faults.lel_poison_h2s_ppm or s.over_range):
            self._poisoned(det, value, ts)

    def status(self, detector_id: str, st: DetectorStatus, ts: float) -> None:
        """Bump/calibration dates reported by the detector (newer than config wins)."""
        det = self._detectors[detector_id]
        if st.last_bump_ts is not None:
            det.last_bump = max(det.last_bump or st.last_bump_ts, st.last_bump_ts)
        if st.last_calibration_ts is not None:
            det.last_calibration = max(det.last_calibration or st.last_calibration_ts, st.last_calibration_ts)
        if det.poisoned_ts is not None and det.last_bump is not None and det.last_bump > det.poisoned_ts:
            det.poisoned_ts = None
            self._fault(det, Gas.LEL.value, "poisoned", AlarmKind.GAS_LEL_POISONED, ts, None,
                        f"LEL sensor of detector {det.cfg.id} passed a bump test after the H2S exposure")
        self._maintenance(det, ts)

    # -- timers -----------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Stale sensors and detectors."""
        for det in self._detectors.values():
            if not det.sensors or det.all_stale:
                continue  # silent detectors change only when a reading arrives, and sample() re-checks
            if det.live and not det.some_stale:  # steady state: a comparison per sensor, nothing else
                late = now - det.stale_after
                for sensor in det.sensors.values():
                    if sensor.last_ts < late:
                        break
                else:
                    continue
            self._check_stale(det, now)

    def minute(self, now: float) -> None:
        """Close exposure minutes (STEL/TWA alarms) and judge bump/calibration dates."""
        for worker_id, gas, exp in self.exposure.roll(now):
            self._exposure_alarms(self._workers[worker_id], gas, exp, now)
        for det in self._detectors.values():
            self._maintenance(det, now)

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

    def _activate(self, det: _Detector, ts: float, gas: Gas | None = None) -> None:
        """Create sensors for the configured gases (and ``gas``), all expected from ``ts``."""
        for g in (*det.cfg.gases, *((gas,) if gas is not None else ())):
            if g not in det.sensors:
                det.sensors[g] = self._new_sensor(g, ts)

    def _new_sensor(self, gas: Gas, ts: float) -> _Sensor:
        sp = self._gas.set_points.get(gas)
        if sp is None:
            return _Sensor(gas, "", None, (), (), ts)
        def level(kind: AlarmKind, threshold: float, direction: str, name: str) -> Level:
            return Level(kind, threshold, direction, self._board.deadband(kind), self._board.priority(kind), name)

        over_range = sp.over_range if sp.over_range is not None else math.inf  # then only the detector's flag
        levels = (
            level(AlarmKind.GAS_OVER_RANGE, over_range, "high", "over-range"),
            level(AlarmKind.GAS_HIGH, sp.high, "high", "high"),
            level(AlarmKind.GAS_LOW, sp.low, "low" if sp.direction == "both" else "high", "low"),
        )
        drift: tuple[Level, ...] = ()
        if sp.direction == "rising" and sp.low > 0:
            drift = (level(AlarmKind.GAS_DRIFT, -self._gas.faults.drift_fraction_of_low * sp.low, "low", "drift"),)
        return _Sensor(gas, sp.unit, sp, levels, drift, ts)

    def _level_changed(self, det: _Detector, sensor: _Sensor, level: int | None, value: float, ts: float) -> None:
        sensor.level = level
        lv = sensor.levels[level] if level is not None else None
        text = _level_text(sensor.gas, value, sensor.unit, lv) if lv is not None else ""
        if det.cfg.kind == "fixed":
            self._zones.fixed_level(det.cfg.id, det.cfg.zone or "", sensor.gas.value, lv, value, text, ts)
        elif lv is None:
            back = f"{sensor.gas.value} back within set points ({value:.1f} {sensor.unit}) {det.where}"
            self._board.clear(det.target, f"gas:{sensor.gas.value}", ts, back, value)
        else:
            self._board.raise_(det.target, f"gas:{sensor.gas.value}", lv.kind, ts, f"{text} {det.where}",
                               priority=lv.priority, value=value, threshold=lv.threshold, direction=lv.direction,
                               notify=det.notify)
        over = any(s.level is not None for s in det.sensors.values())
        if over != det.over:
            det.over = over
            self._zones.detector_over(det.cfg.id, over, ts)

    def _drift_changed(self, det: _Detector, sensor: _Sensor, drift: int | None, value: float, ts: float) -> None:
        sensor.drift_level = drift
        lv = sensor.drift[0]
        msg = (f"{sensor.gas.value} sensor of detector {det.cfg.id} reads {value:.1f} {sensor.unit}: negative drift "
               f"beyond {lv.threshold:g} {sensor.unit}, zero or calibrate it")
        back = f"{sensor.gas.value} sensor of detector {det.cfg.id} back within drift limits"
        self._fault(det, sensor.gas.value, "drift", lv.kind, ts, msg if drift is not None else None,
                    back, value, lv.threshold, "low")

    def _reported_fault(self, det: _Detector, sensor: _Sensor, fault: str | None, ts: float) -> None:
        sensor.fault = fault
        msg = f"{sensor.gas.value} sensor of detector {det.cfg.id} {det.where} gives no usable reading: {fault}"
        self._fault(det, sensor.gas.value, "reported", AlarmKind.GAS_SENSOR_STALE, ts, msg if fault else None,
                    f"{sensor.gas.value} sensor of detector {det.cfg.id} reads normally again")

    def _poisoned(self, det: _Detector, value: float, ts: float) -> None:
        if det.poisoned_ts is not None or (Gas.LEL not in det.cfg.gases and Gas.LEL not in det.sensors):
            return
        det.poisoned_ts = ts
        limit = self._gas.faults.lel_poison_h2s_ppm
        self._fault(det, Gas.LEL.value, "poisoned", AlarmKind.GAS_LEL_POISONED, ts,
                    f"LEL sensor of detector {det.cfg.id} {det.where} possibly poisoned: H2S {value:.0f} ppm "
                    f"(over {limit:g} ppm); bump test it before trusting LEL readings")

    def _check_stale(self, det: _Detector, now: float) -> None:
        stale = [now - s.last_ts > det.stale_after for s in det.sensors.values()]
        all_stale = all(stale)
        for sensor, late in zip(det.sensors.values(), stale, strict=True):
            want = late and not all_stale
            if want != sensor.stale:
                sensor.stale = want
                self._fault(det, sensor.gas.value, "stale", AlarmKind.GAS_SENSOR_STALE, now,
                            f"No {sensor.gas.value} reading from detector {det.cfg.id} {det.where} within "
                            f"{det.stale_after:g} s" if want else None,
                            f"{sensor.gas.value} readings from detector {det.cfg.id} resumed")
        det.some_stale = any(stale)
        if all_stale != det.all_stale:
            det.all_stale = all_stale
            self._fault(det, _ALL, "stale", AlarmKind.GAS_SENSOR_STALE, now,
                        f"No reading at all from detector {det.cfg.id} {det.where} within {det.stale_after:g} s"
                        if all_stale else None, f"Detector {det.cfg.id} reporting again")
        if det.live == all_stale:
            det.live = not all_stale
            if det.live:
                self._maintenance(det, now)
            if det.owner is not None:
                self._on_liveness(det.owner.id, now)

    def _maintenance(self, det: _Detector, now: float) -> None:
        if not det.live:
            return  # a detector in the charging rack is not judged until it is switched on
        f = self._gas.faults
        for name, kind, last, interval, what in (
            ("bump_due", AlarmKind.GAS_BUMP_DUE, det.last_bump, f.bump_interval_h * 3600.0, "bump test"),
            ("calibration_due", AlarmKind.GAS_CALIBRATION_DUE, det.last_calibration,
             f.calibration_interval_d * 86400.0, "calibration"),
        ):
            due = last is not None and now - last > interval
            if due == self._board.is_active(det.subject, f"gas_fault:{_ALL}:{name}"):
                continue
            age = (now - last) / 86400.0 if last is not None else 0.0
            self._fault(det, _ALL, name, kind, now,
                        f"Detector {det.cfg.id} {det.where}: {what} overdue (last {age:.1f} days ago)" if due else None,
                        f"Detector {det.cfg.id}: {what} done")

    def _exposure_alarms(self, worker: Worker, gas: Gas, exp: Exposure, ts: float) -> None:
        sp = self._gas.set_points[gas]
        stel, twa = exp.running(ts)
        stel_over = sp.stel is not None and stel >= sp.stel
        twa_over = sp.twa is not None and twa >= sp.twa
        if not (stel_over or twa_over or exp.stel_over or exp.twa_alarmed):
            return  # the common case on every reading: nothing over, nothing to clear
        ex = self._gas.exposure
        subject, notify, label = worker_subject(worker.id), Notify(workers=(worker.id,)), worker_label(worker)
        if sp.stel is not None:
            cond = f"stel:{gas.value}"
            new_period = exp.mark_stel(stel_over, ts)
            if not stel_over:
                back = f"{gas.value} STEL {stel:.1f} {sp.unit} back under {sp.stel:g} for {label}"
                self._board.clear(subject, cond, ts, back, stel)
            elif new_period or not self._board.is_active(subject, cond):
                too_many = exp.stel_periods > ex.max_stel_periods_per_shift
                since = ts - exp.stel_last_end if exp.stel_last_end is not None else math.inf
                too_soon = since < ex.stel_rest_min * 60.0
                priority = self._board.priority(AlarmKind.GAS_STEL)
                if too_many or too_soon:  # against ACGIH's excursion rules: one level up
                    priority = Priority(min(priority + 1, Priority.CRITICAL))
                msg = (f"{gas.value} STEL {stel:.1f} {sp.unit} over limit {sp.stel:g} {sp.unit} at worker {label}: "
                       f"STEL period {exp.stel_periods} of at most {ex.max_stel_periods_per_shift} this shift; "
                       f"leave the area for at least {ex.stel_rest_min} min")
                if too_soon:
                    msg += f"; only {since / 60.0:.0f} min after the previous excursion"
                self._board.raise_(subject, cond, AlarmKind.GAS_STEL, ts, msg,
                                   priority=priority,
                                   value=stel, threshold=sp.stel, direction="high", notify=notify)
        if sp.twa is not None:
            cond = f"twa:{gas.value}"
            exp.twa_alarmed = twa_over
            if not twa_over:
                self._board.clear(subject, cond, ts, f"{gas.value} TWA back under {sp.twa:g} for {label}", twa)
            elif not self._board.is_active(subject, cond):
                self._board.raise_(subject, cond, AlarmKind.GAS_TWA, ts,
                                   f"{gas.value} TWA {twa:.1f} {sp.unit} over limit {sp.twa:g} {sp.unit} "
                                   f"({ex.twa_mode}, {ex.twa_window_min} min) at worker {label}",
                                   value=twa, threshold=sp.twa, direction="high", notify=notify)

    def _fault(self, det: _Detector, gas: str, name: str, kind: AlarmKind, ts: float, message: str | None,
               clear_message: str | None = None, value: float | None = None, threshold: float | None = None,
               direction: str | None = None) -> None:
        """Raise (``message`` given) or clear ``gas_fault:{gas}:{name}`` on the detector."""
        cond = f"gas_fault:{gas}:{name}"
        if message is None:
            self._board.clear(det.subject, cond, ts, clear_message, value)
        else:
            self._board.raise_(det.subject, cond, kind, ts, message, value=value, threshold=threshold,
                               direction=direction, notify=det.notify, zone=det.cfg.zone)


def _level_text(gas: Gas, value: float, unit: str, lv: Level) -> str:
    """"H2S 25.0 ppm over high set point 20 ppm" / "LEL 100.0 %LEL over range (>= 100 %LEL): explosion hazard"."""
    if lv.kind is AlarmKind.GAS_OVER_RANGE:
        limit = f">= {lv.threshold:g} {unit}" if math.isfinite(lv.threshold) else "sensor full scale"
        hazard = ": explosion hazard" if gas is Gas.LEL else ""
        return f"{gas.value} {value:.1f} {unit} over range ({limit}){hazard}"
    side = "below" if lv.direction == "low" else "over"
    return f"{gas.value} {value:.1f} {unit} {side} {lv.name} set point {lv.threshold:g} {unit}"


def _epoch(iso: str | None, detector_id: str) -> float | None:
    """ISO date or datetime from the site file as epoch seconds (UTC when no zone is given)."""
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        log.warning("detector %s: cannot read date %r; bump/calibration not judged from config", detector_id, iso)
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()

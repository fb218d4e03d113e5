"""Gas detector faults found in its readings, reported on the detector (``gas_fault:{gas}:{name}``).

- negative drift beyond ``drift_fraction_of_low`` × low (``drift``), for gases
  that alarm rising;
- a detector-reported fault, or a unit that cannot be compared with the set
  points, makes the reading unusable (``reported``);
- H2S above ``lel_poison_h2s_ppm`` on a detector with an LEL sensor
  (``gas_fault:LEL:poisoned``) until a bump test newer than the exposure.
"""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.config.gas import GasFaultSettings, GasSetPoints
from firmware_bridge.readings import Gas, GasSample

from .conditions import ConditionBoard, Level, classify
from .gas_detectors import DetectorState, Sensor, band, report_fault


class DetectorFaultRule:
    """Drift, reported faults and LEL poisoning."""

    def __init__(self, settings: GasFaultSettings, board: ConditionBoard) -> None:
        self._faults = settings
        self._board = board

    def drift_bands(self, sp: GasSetPoints | None) -> tuple[Level, ...]:
        if sp is None or sp.direction != "rising" or sp.low <= 0:
            return ()
        return (band(self._board, AlarmKind.GAS_DRIFT, -self._faults.drift_fraction_of_low * sp.low, "low", "drift"),)

    def reported(self, det: DetectorState, sensor: Sensor, fault: str | None, ts: float) -> None:
        """The reading's fault changed (``None``: usable again)."""
        sensor.fault = fault
        msg = f"{sensor.gas.value} sensor of detector {det.cfg.id} {det.where} gives no usable reading: {fault}"
        report_fault(self._board, det, sensor.gas.value, "reported", AlarmKind.GAS_SENSOR_STALE, ts,
                     msg if fault else None, f"{sensor.gas.value} sensor of detector {det.cfg.id} reads normally again")

    def judge(self, det: DetectorState, sensor: Sensor, s: GasSample, value: float, ts: float) -> None:
        """A usable reading: drift, and whether it may have poisoned the LEL sensor."""
        if sensor.drift:
            drift = classify(sensor.drift, value, sensor.drift_level)
            if drift != sensor.drift_level:
                self._drift_changed(det, sensor, drift, value, ts)
        if s.gas is Gas.H2S and (value > self._faults.lel_poison_h2s_ppm or s.over_range):
            self._poisoned(det, value, ts)

    def bump_tested(self, det: DetectorState, ts: float) -> None:
        """A bump test newer than the H2S exposure clears the LEL poisoning."""
        if det.poisoned_ts is not None and det.last_bump is not None and det.last_bump > det.poisoned_ts:
            det.poisoned_ts = None
            report_fault(self._board, det, Gas.LEL.value, "poisoned", AlarmKind.GAS_LEL_POISONED, ts, None,
                         f"LEL sensor of detector {det.cfg.id} passed a bump test after the H2S exposure")

    def _drift_changed(self, det: DetectorState, sensor: Sensor, drift: int | None, value: float, ts: float) -> None:
        sensor.drift_level = drift
        lv = sensor.drift[0]
        msg = (f"{sensor.gas.value} sensor of detector {det.cfg.id} reads {value:.1f} {sensor.unit}: negative drift "
               f"beyond {lv.threshold:g} {sensor.unit}, zero or calibrate it")
        back = f"{sensor.gas.value} sensor of detector {det.cfg.id} back within drift limits"
        report_fault(self._board, det, sensor.gas.value, "drift", lv.kind, ts, msg if drift is not None else None,
                     back, value, lv.threshold, "low")

    def _poisoned(self, det: DetectorState, value: float, ts: float) -> None:
        if det.poisoned_ts is not None or (Gas.LEL not in det.cfg.gases and Gas.LEL not in det.sensors):
            return
        det.poisoned_ts = ts
        limit = self._faults.lel_poison_h2s_ppm
        report_fault(self._board, det, Gas.LEL.value, "poisoned", AlarmKind.GAS_LEL_POISONED, ts,
                     f"LEL sensor of detector {det.cfg.id} {det.where} possibly poisoned: H2S {value:.0f} ppm "
                     f"(over {limit:g} ppm); bump test it before trusting LEL readings")

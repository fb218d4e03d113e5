"""Gas detector maintenance: bump test and calibration due (``gas_fault:all:bump_due`` / ``calibration_due``).

Judged per minute and on every date the detector reports, only for detectors
in use (live) and with a known date: from the site file, or reported by the
detector (the newer wins).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.config.gas import GasFaultSettings
from firmware_bridge.readings import DetectorStatus

from .conditions import ConditionBoard
from .gas_detectors import ALL, DetectorState, report_fault

log = logging.getLogger(__name__)


class MaintenanceRule:
    """Bump/calibration dates per detector and whether they are overdue."""

    def __init__(self, settings: GasFaultSettings, board: ConditionBoard) -> None:
        self._faults = settings
        self._board = board

    @staticmethod
    def dates(det: DetectorState, st: DetectorStatus) -> None:
        """Bump/calibration dates reported by the detector (newer than config wins)."""
        if st.last_bump_ts is not None:
            det.last_bump = max(det.last_bump or st.last_bump_ts, st.last_bump_ts)
        if st.last_calibration_ts is not None:
            det.last_calibration = max(det.last_calibration or st.last_calibration_ts, st.last_calibration_ts)

    def judge(self, det: DetectorState, now: float) -> None:
        if not det.live:
            return  # a detector in the charging rack is not judged until it is switched on
        f = self._faults
        for name, kind, last, interval, what in (
            ("bump_due", AlarmKind.GAS_BUMP_DUE, det.last_bump, f.bump_interval_h * 3600.0, "bump test"),
            ("calibration_due", AlarmKind.GAS_CALIBRATION_DUE, det.last_calibration,
             f.calibration_interval_d * 86400.0, "calibration"),
        ):
            due = last is not None and now - last > interval
            if due == self._board.is_active(det.subject, f"gas_fault:{ALL}:{name}"):
                continue
            age = (now - last) / 86400.0 if last is not None else 0.0
            overdue = f"Detector {det.cfg.id} {det.where}: {what} overdue (last {age:.1f} days ago)"
            report_fault(self._board, det, ALL, name, kind, now, overdue if due else None,
                         f"Detector {det.cfg.id}: {what} done")


def config_date(iso: str | None, detector_id: str) -> float | None:
    """ISO date or datetime from the site file as epoch seconds (UTC when no zone is given)."""
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        log.warning("detector %s: cannot read date %r; bump/calibration not judged from config", detector_id, iso)
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()

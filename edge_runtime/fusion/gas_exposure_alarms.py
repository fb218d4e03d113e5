"""A worker's STEL and TWA alarms (``stel:{gas}``, ``twa:{gas}``), from the exposure arithmetic of gas_exposure.py.

Judged on every reading (against the running values, so a limit certainly
exceeded alarms at once) and when a minute closes. A STEL excursion against
ACGIH's rules (too many periods this shift, or too soon after the last one)
goes one priority up.
"""
from __future__ import annotations

import math

from edge_runtime.alarms.model import AlarmKind, Notify, Priority
from edge_runtime.config.gas import GasSettings
from edge_runtime.config.people import Worker
from firmware_bridge.readings import Gas

from .conditions import ConditionBoard, worker_label, worker_subject
from .gas_exposure import Exposure


class ExposureAlarmRule:
    """STEL/TWA against the set points' limits."""

    def __init__(self, settings: GasSettings, board: ConditionBoard) -> None:
        self._gas = settings
        self._board = board

    def judge(self, worker: Worker, gas: Gas, exp: Exposure, ts: float) -> None:
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

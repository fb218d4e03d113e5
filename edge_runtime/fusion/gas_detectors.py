"""What the gas rules share: each detector's and sensor's state, bands, and how a detector fault is reported.

A fault is the condition ``gas_fault:{gas}:{name}`` on the detector itself
(``gas`` is ``all`` for the whole detector), told to the worker carrying it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.alarms.model import AlarmKind, Notify, Subject
from edge_runtime.config.devices import Detector
from edge_runtime.config.gas import GasSetPoints
from edge_runtime.config.people import Worker
from firmware_bridge.readings import Gas

from .conditions import ConditionBoard, Level

ALL = "all"  # condition segment for faults of the whole detector


@dataclass(slots=True)
class Sensor:
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
class DetectorState:
    cfg: Detector
    owner: Worker | None
    subject: Subject
    target: Subject  # gas levels are about the worker carrying it (the device if unassigned)
    where: str  # "at worker Ana (w07)" / "in Tank 3 (z1)" / "(not assigned to a worker)"
    notify: Notify
    last_bump: float | None
    last_calibration: float | None
    stale_after: float
    sensors: dict[Gas, Sensor] = field(default_factory=dict)
    poisoned_ts: float | None = None
    all_stale: bool = False
    some_stale: bool = False
    live: bool = False
    over: bool = False  # any gas beyond a set point


def band(board: ConditionBoard, kind: AlarmKind, threshold: float, direction: str, name: str) -> Level:
    """A band with the deadband and priority the site gives ``kind``."""
    return Level(kind, threshold, direction, board.deadband(kind), board.priority(kind), name)


def report_fault(
    board: ConditionBoard, det: DetectorState, gas: str, name: str, kind: AlarmKind, ts: float, message: str | None,
    clear_message: str | None = None, value: float | None = None, threshold: float | None = None,
    direction: str | None = None,
) -> None:
    """Raise (``message`` given) or clear ``gas_fault:{gas}:{name}`` on the detector."""
    cond = f"gas_fault:{gas}:{name}"
    if message is None:
        board.clear(det.subject, cond, ts, clear_message, value)
    else:
        board.raise_(det.subject, cond, kind, ts, message, value=value, threshold=threshold,
                     direction=direction, notify=det.notify, zone=det.cfg.zone)

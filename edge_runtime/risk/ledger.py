"""The alarms the risk scorer scored lately, with their features and, once a supervisor gives one, the verdict.

Bounded (the newest ``capacity``): enough to judge a candidate in the active
model's shadow against real verdicts, and to report how the active model
performs (precision of the alarms by verdict, and recall on confirmed ones:
the share it scored at or above its threshold), without a database query.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class ScoredAlarm:
    features: np.ndarray  # one FEATURES row
    ts: float  # raised
    version: str  # of the model that scored it
    score: float
    flagged: bool  # score >= that model's threshold
    verdict: str | None = None  # "confirmed" | "false_alarm"


@dataclass(frozen=True, slots=True)
class Verdicts:
    alarms: int
    confirmed: int
    false: int
    flagged_confirmed: int

    @property
    def precision(self) -> float | None:
        judged = self.confirmed + self.false
        return self.confirmed / judged if judged else None

    @property
    def recall_confirmed(self) -> float | None:
        return self.flagged_confirmed / self.confirmed if self.confirmed else None


class ScoredAlarms:
    def __init__(self, capacity: int = 1000) -> None:
        self._capacity = capacity
        self._alarms: OrderedDict[str, ScoredAlarm] = OrderedDict()

    def add(self, alarm_id: str, entry: ScoredAlarm) -> None:
        self._alarms[alarm_id] = entry
        self._alarms.move_to_end(alarm_id)
        while len(self._alarms) > self._capacity:
            self._alarms.popitem(last=False)

    def label(self, alarm_id: str, verdict: str) -> None:
        entry = self._alarms.get(alarm_id)
        if entry is not None:
            entry.verdict = verdict

    def of_version(self, version: str, since_ts: float) -> Verdicts:
        """What the verdicts say of ``version``'s scores on alarms raised since ``since_ts``."""
        mine = [a for a in self._alarms.values() if a.version == version and a.ts >= since_ts]
        confirmed = [a for a in mine if a.verdict == "confirmed"]
        return Verdicts(len(mine), len(confirmed), sum(a.verdict == "false_alarm" for a in mine),
                        sum(a.flagged for a in confirmed))

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """(FEATURES rows, 1 for confirmed / 0 for false alarm) of every alarm with a verdict."""
        judged = [a for a in self._alarms.values() if a.verdict in ("confirmed", "false_alarm")]
        if not judged:
            return np.empty((0, 0)), np.empty(0)
        return np.stack([a.features for a in judged]), np.array([a.verdict == "confirmed" for a in judged], dtype=int)

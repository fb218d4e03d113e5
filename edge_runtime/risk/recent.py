"""The last few minutes of each rostered sensor's readings, in memory: the windows the risk model scores.

Readings are stored by who reads them (serial ports, the telemetry process),
not on the daemon's loop, and a scan of the readings table for one window
would cost a loop-free but long query per alarm; the bus already carries
every observation fusion sees, so each is appended here as it passes (one
deque append, the object itself: the row encoding waits until a window is
scored). Only sensors in the roster are kept, each at most its newest
``per_sensor`` samples (more than a :data:`models.risk.features.WINDOW_S`
window at sensor rates): memory stays flat.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from edge_runtime.store.rows import reading_row
from firmware_bridge.readings import Observation
from models.risk.features import WINDOW_S, SensorWindow

Snapshot = tuple[tuple[Observation, ...], ...]


def _ts(obs: Observation) -> float:
    return obs.ts


class RecentReadings:
    """Per sensor a bounded deque of observations; snapshot on the loop, window off it."""

    def __init__(self, roster: Mapping[str, Sequence[str]], *, per_sensor: int = 2048) -> None:
        self._by_sensor: dict[str, deque[Observation]] = {
            sensor: deque(maxlen=per_sensor) for sensors in roster.values() for sensor in sensors
        }

    def on_observation(self, obs: Observation) -> None:
        """Bus handler (the loop): one lookup and one append."""
        buffer = self._by_sensor.get(obs.device)
        if buffer is not None:
            buffer.append(obs)

    def snapshot(self, sensors: Iterable[str], t: float) -> Snapshot:
        """The observations of ``sensors`` from the window's start (``t - WINDOW_S``) on: taken on the loop, where
        they are appended, so the scoring thread never reads a deque being changed. Each deque is copied at C
        speed and cut by bisection (observations arrive in receive-time order), so an alarm's raise costs the loop
        microseconds; :func:`models.risk.features.window_features` leaves out anything after ``t`` itself."""
        lo = t - WINDOW_S
        out = []
        for sensor in sensors:
            buffer = self._by_sensor.get(sensor)
            if buffer:
                kept = tuple(buffer)
                out.append(kept[bisect_left(kept, lo, key=_ts):])
        return tuple(out)

    @property
    def sensors(self) -> int:
        return len(self._by_sensor)


def window_of(snapshot: Snapshot) -> SensorWindow:
    """A :class:`SensorWindow` in the readings table's shape (``edge_runtime/store/rows.py``), as the cloud builds
    it from the synced rows: the same numbers on both sides."""
    rows = [reading_row(o) for part in snapshot for o in part]
    if not rows:
        return SensorWindow({})
    _, kind, ts, v1, v2, v3, _ = zip(*rows)
    nan = float("nan")
    return SensorWindow.from_columns(
        np.asarray(kind, dtype=str), np.asarray(ts, dtype=np.float64),
        *(np.asarray([nan if v is None else v for v in column], dtype=np.float64) for column in (v1, v2, v3)),
    )

"""Heart-rate and gas trends of the last hour for the worker card, kept in memory.

Fed from every bus Observation, so they must cost O(1) per reading and stay
small on an edge node with hundreds of workers: each series is a fixed ring of
10-second slots in flat arrays (about 10 KiB, allocated on a series' first
reading), indexed by the interval number itself, so a reading only updates one
slot and an interval nobody reported in simply stays empty. Nothing is stored:
the card of a worker shows what was seen since the daemon started (the
readings table in SQLite has the full history).
"""
from __future__ import annotations

from array import array

from edge_runtime.config.site import SiteConfig
from firmware_bridge.readings import Contact, GasSample, HeartRate, Observation

from .schemas import TrendPoint

BUCKET_S = 10.0
WINDOW_S = 3600.0


class TrendRing:
    """Mean, minimum and maximum of one series per ``bucket_s`` interval, for the last ``slots`` intervals."""

    __slots__ = ("_bucket_s", "_slots", "_interval", "_n", "_sum", "_min", "_max")

    def __init__(self, bucket_s: float = BUCKET_S, window_s: float = WINDOW_S) -> None:
        self._bucket_s = bucket_s
        self._slots = slots = int(window_s // bucket_s)
        self._interval = array("q", [-1]) * slots  # the interval number a slot holds (-1: none yet)
        self._n = array("I", [0]) * slots
        self._sum = array("d", [0.0]) * slots
        self._min = array("f", [0.0]) * slots
        self._max = array("f", [0.0]) * slots

    def add(self, ts: float, value: float) -> None:
        interval = int(ts // self._bucket_s)
        slot = interval % self._slots
        held = self._interval[slot]
        if held == interval:
            self._n[slot] += 1
            self._sum[slot] += value
            if value < self._min[slot]:
                self._min[slot] = value
            if value > self._max[slot]:
                self._max[slot] = value
        elif held < interval:  # the slot's last use is a window ago (or never): start it afresh
            self._interval[slot] = interval
            self._n[slot] = 1
            self._sum[slot] = value
            self._min[slot] = self._max[slot] = value
        # else: a reading older than the whole window arrived late; it has no place left

    def points(self, now: float) -> list[TrendPoint]:
        """The intervals with readings in the window ending at ``now``, oldest first."""
        last = int(now // self._bucket_s)
        out: list[TrendPoint] = []
        for interval in range(last - self._slots + 1, last + 1):
            slot = interval % self._slots
            if self._interval[slot] == interval:
                out.append(TrendPoint(ts=interval * self._bucket_s, value=self._sum[slot] / self._n[slot],
                                      min=self._min[slot], max=self._max[slot]))
        return out


class WorkerTrends:
    """Per worker: heart rate from the wearable, each gas from the portable detector."""

    def __init__(self, config: SiteConfig, bucket_s: float = BUCKET_S, window_s: float = WINDOW_S) -> None:
        self._bucket_s = bucket_s
        self._window_s = window_s
        self._wearer = {w.wearable: w.id for w in config.workers if w.wearable}
        self._carrier = {w.detector: w.id for w in config.workers if w.detector}
        self._hr: dict[str, TrendRing] = {}
        self._gas: dict[str, dict[str, TrendRing]] = {}

    def on_observation(self, obs: Observation) -> None:
        """Bus handler: two dict look-ups and one slot update, or nothing for other readings."""
        reading = obs.reading
        if isinstance(reading, HeartRate):
            worker = self._wearer.get(obs.device)
            if worker is not None and reading.bpm > 0 and reading.contact is not Contact.NOT_DETECTED:
                ring = self._hr.get(worker)
                if ring is None:
                    ring = self._hr[worker] = self._ring()
                ring.add(obs.ts, reading.bpm)
        elif isinstance(reading, GasSample):
            worker = self._carrier.get(obs.device)
            if worker is not None and reading.fault is None:
                rings = self._gas.setdefault(worker, {})
                ring = rings.get(reading.gas.value)
                if ring is None:
                    ring = rings[reading.gas.value] = self._ring()
                ring.add(obs.ts, reading.value)

    def hr(self, worker_id: str, now: float) -> list[TrendPoint]:
        ring = self._hr.get(worker_id)
        return ring.points(now) if ring is not None else []

    def gas(self, worker_id: str, now: float) -> dict[str, list[TrendPoint]]:
        return {gas: ring.points(now) for gas, ring in self._gas.get(worker_id, {}).items()}

    def _ring(self) -> TrendRing:
        return TrendRing(self._bucket_s, self._window_s)

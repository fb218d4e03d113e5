"""Panic probes one after another on a thread of their own, each stamped with the wall clock it was pressed at,
so one run of probes splits into windows afterwards (idle, during an update) without stopping the probes at
the window's edges."""
from __future__ import annotations

import threading
import time

from bench.support.panic_probe import PanicProbes

MAX_PROBES = 100_000  # a bound on one run, whatever its caller forgets


class ProbeLoop:
    """``with ProbeLoop(probes, gap_s):`` probes every ``gap_s`` after the last answer until the block ends."""

    def __init__(self, probes: PanicProbes, gap_s: float) -> None:
        self._probes = probes
        self._gap_s = gap_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-probes", daemon=True)
        self.samples: list[tuple[float, float | None]] = []  # (pressed at, seconds to the alert or None: lost)

    def __enter__(self) -> ProbeLoop:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(self._probes.timeout_s + 5)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set() and i < MAX_PROBES:
            pressed = time.time()
            self.samples.append((pressed, self._probes.probe(i)))
            i += 1
            self._stop.wait(self._gap_s)

    def window(self, start_ts: float, end_ts: float) -> list[float | None]:
        """The probes pressed within [start_ts, end_ts)."""
        return [latency for ts, latency in list(self.samples) if start_ts <= ts < end_ts]

    def count(self) -> int:
        return len(self.samples)

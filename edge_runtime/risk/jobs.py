"""A bounded job queue and the one thread that works it: the risk scorer's work never runs on the loop.

When more alarms arrive than the model can score, the oldest waiting job is
shed (counted): a score is an annotation, the alarm itself was announced and
stored before its job was queued.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from edge_runtime.queue_stats import QueueStats

log = logging.getLogger(__name__)
J = TypeVar("J")


class JobThread(Generic[J]):
    def __init__(self, name: str, capacity: int, work: Callable[[J], None]) -> None:
        self._name = name
        self._work = work
        self._jobs: deque[J] = deque()
        self._capacity = capacity
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = QueueStats(name, capacity=capacity, kind="bulk")
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def put(self, job: J) -> None:
        with self._ready:
            if len(self._jobs) >= self._capacity:
                self._jobs.popleft()
                self.stats.shed += 1
            self._jobs.append(job)
            self.stats.enqueued += 1
            self.stats.high_water = max(self.stats.high_water, len(self._jobs))
            self._ready.notify()

    def snapshot(self) -> QueueStats:
        with self._ready:
            return QueueStats(self.stats.name, len(self._jobs), self._capacity, self.stats.high_water,
                              self.stats.enqueued, self.stats.shed, kind="bulk")

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
            try:
                self._work(job)
            except Exception:  # one bad job must not end the scorer
                self.failures += 1
                log.exception("%s job failed", self._name)

"""What a pipeline step gets: the job's inputs, a place for its outputs, and progress and log lines.

Progress and log lines go to the database (so any replica's API shows them)
at most every ``write_every_s``: a step may call :meth:`RunContext.progress`
and :meth:`RunContext.log` in a tight loop without writing a row each time.
Each write is made only while this worker still holds the job's lease; once
it does not (it expired and the job went to another attempt) the next call
raises :class:`.errors.LeaseLost`, which ends the step without a word more.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Engine

from .errors import LeaseLost

LEVELS = ("debug", "info", "warning", "error")
MAX_LINE = 4000


@dataclass(frozen=True, slots=True)
class LogLine:
    ts: float
    level: str
    line: str


class JobSink(Protocol):
    """Where a running attempt's progress and log lines go (``leases.AttemptWriter``)."""

    def write(self, progress: float, step: str | None, lines: list[LogLine]) -> bool:
        """Writes them if the lease is still held; False when it is not."""


@dataclass
class RunContext:
    """One attempt of one job, as its steps see it. Steps run in order in one process, so ``scratch``
    carries what one step hands the next (data frames, a fitted model)."""

    job_id: int
    pipeline: str
    attempt: int
    params: dict[str, Any]
    options: BaseModel
    engine: Engine
    data_dir: Path
    work_dir: Path  # this attempt's own directory, under the data dir
    sink: JobSink
    write_every_s: float = 1.0
    clock: Callable[[], float] = time.time
    metrics: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    data_snapshot_id: str | None = None
    parent_version: str | None = None
    reference: dict[str, np.ndarray] | None = None  # the drift reference; the kind's drift_sample(0) if unset
    scratch: dict[str, Any] = field(default_factory=dict)
    _span: tuple[float, float] = field(default=(0.0, 1.0), init=False)
    _progress: float = field(default=0.0, init=False)
    _step: str | None = field(default=None, init=False)
    _lines: list[LogLine] = field(default_factory=list, init=False)
    _written: float = field(default=-math.inf, init=False)
    _lost: threading.Event = field(default_factory=threading.Event, init=False)

    def progress(self, fraction: float, message: str = "") -> None:
        """How far the current step is (0..1, clamped), with what it is doing now."""
        start, end = self._span
        self._progress = start + (end - start) * min(max(float(fraction), 0.0), 1.0)
        if message:
            self._step = message[:MAX_LINE]
        self._maybe_write()

    def log(self, line: str, level: str = "info") -> None:
        if level not in LEVELS:
            raise ValueError(f"log level {level!r} is not one of {LEVELS}")
        self._lines.append(LogLine(self.clock(), level, str(line)[:MAX_LINE]))
        self._maybe_write()

    # -- for the runner ---------------------------------------------------------------------------

    @property
    def overall(self) -> float:
        return self._progress

    @property
    def step_message(self) -> str | None:
        return self._step

    def enter(self, span: tuple[float, float], message: str) -> None:
        """A step begins: its share of the run's progress, and its first message (written at once)."""
        self._span, self._progress, self._step = span, span[0], message
        self.flush()

    def lose_lease(self) -> None:
        """Called by the lease keeper when a renewal found the lease gone."""
        self._lost.set()

    def flush(self) -> None:
        """Writes what is pending now; LeaseLost when the lease is gone."""
        if self._lost.is_set() or not self.sink.write(self._progress, self._step, self._lines):
            self._lost.set()
            raise LeaseLost(f"job {self.job_id} attempt {self.attempt}: the lease is gone")
        self._lines = []
        self._written = self.clock()

    def _maybe_write(self) -> None:
        if self._lost.is_set() or self.clock() - self._written >= self.write_every_s:
            self.flush()

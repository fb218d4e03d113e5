"""Runs one attempt of one job: claim it, run the kind's steps in order under a renewed lease, store the outcome.

A step that raises ends the attempt: the job goes back to the queue for its
next attempt after a backoff (:meth:`.settings.JobSettings.retry_delay`), or
fails for good with the step's error once ``max_attempts`` are spent. Every
attempt starts again from the first step, in a fresh work directory.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import numpy as np
from pydantic import ValidationError
from sqlalchemy import Engine

from .context import LogLine, RunContext
from .errors import LeaseLost, StepRefused, TrainingError
from .jobs import Job
from .kinds import PipelineKind, get_kind
from .leases import Attempt, Leases, Retry
from .pipelines import PipelineStore
from .settings import JobSettings
from .states import STEPS

log = logging.getLogger(__name__)
REFERENCE_MAX = 2000  # drift reference values kept per feature


class LeaseKeeper:
    """Renews a held lease every ``every_s`` in a thread while the block runs; tells ``on_lost`` if it is gone."""

    def __init__(self, leases: Leases, held: Attempt, every_s: float, on_lost: Callable[[], None]) -> None:
        self._leases, self._held, self._every_s, self._on_lost = leases, held, every_s, on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{held.job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                held = self._leases.renew(self._held)
            except Exception:  # the database may be away a moment: the lease lasts a few renewals
                log.exception("renewing the lease of job %s failed", self._held.job_id)
                continue
            if not held:
                self._on_lost()
                return


class JobRunner:
    def __init__(self, engine: Engine, data_dir: Path, settings: JobSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._data_dir = data_dir
        self._settings = settings
        self._clock = clock
        self.leases = Leases(engine, settings, clock=clock)

    def run(self, job_id: int, attempt: int) -> Retry | None:
        """Runs the attempt if this call claims it. Returns the retry to send, or None (nothing to send)."""
        owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        job = self.leases.claim(job_id, attempt, owner)
        if job is None:
            log.info("job %s attempt %s is not queued: another worker has it, or it is over", job_id, attempt)
            return None
        held = Attempt(job_id, attempt, owner)
        try:
            kind, ctx = self._prepare(job, held)
        except (TrainingError, ValidationError) as exc:
            return self._failed(held, f"setup: {exc}", [])
        with LeaseKeeper(self.leases, held, self._settings.renew_s, ctx.lose_lease):
            return self._steps(kind, ctx, held)

    def _prepare(self, job: Job, held: Attempt) -> tuple[PipelineKind, RunContext]:
        kind = get_kind(job.kind)
        options = kind.options.model_validate(PipelineStore(self._engine).get(job.pipeline).options)
        work_dir = self._data_dir / "training" / "jobs" / str(job.id) / f"attempt-{job.attempt}"
        work_dir.mkdir(parents=True, exist_ok=True)
        sink = _Sink(self.leases, held)
        ctx = RunContext(job_id=job.id, pipeline=job.pipeline, attempt=job.attempt, params=dict(job.params),
                         options=options, engine=self._engine, data_dir=self._data_dir, work_dir=work_dir,
                         sink=sink, write_every_s=self._settings.write_every_s, clock=self._clock,
                         data_snapshot_id=job.data_snapshot_id, parent_version=job.parent_version)
        return kind, ctx

    def _steps(self, kind: PipelineKind, ctx: RunContext, held: Attempt) -> Retry | None:
        timings: dict[str, float] = {}
        where = "setup"
        try:
            for step in STEPS:
                where = step.value
                if not self.leases.enter(held, step, timings):
                    raise LeaseLost(f"job {held.job_id}: the lease is gone")
                ctx.enter(kind.span(step), step.value)
                began = time.monotonic()
                kind.steps[step](ctx)
                timings[step.value] = round(time.monotonic() - began, 3)
                ctx.progress(1.0)
                ctx.flush()
            where = "reference"
            if not self.leases.finish(held, ctx, timings, self._reference(kind, ctx)):
                raise LeaseLost(f"job {held.job_id}: the lease is gone")
            return None
        except LeaseLost as exc:
            log.warning("%s; this worker stops it", exc)
            return None
        except StepRefused as exc:  # its metrics so far (a gate's numbers) stay in the log with the reason
            lines = [LogLine(self._clock(), "error", f"refused: {exc}"),
                     LogLine(self._clock(), "info", "metrics: " + json.dumps(ctx.metrics, default=str)[:8000])]
            return self._failed(held, f"{where}: {exc}", lines, ctx, final=True)
        except Exception as exc:
            lines = [LogLine(self._clock(), "error", traceback.format_exc()[-4000:])]
            return self._failed(held, f"{where}: {type(exc).__name__}: {exc}", lines, ctx)

    def _failed(self, held: Attempt, error: str, lines: list[LogLine], ctx: RunContext | None = None, *,
                final: bool = False) -> Retry | None:
        if lines and not self.leases.write(held, ctx.overall if ctx else 0.0, ctx.step_message if ctx else None,
                                           lines):
            return None
        retry = self.leases.fail(held, error, final=final)
        log.warning("job %s attempt %s failed: %s", held.job_id, held.attempt, error)
        return retry

    def _reference(self, kind: PipelineKind, ctx: RunContext) -> dict[str, list[float]]:
        """The drift reference kept with a done run: what the steps set, else the kind's whole sample."""
        sample = ctx.reference
        if sample is None and kind.drift_sample is not None:
            sample = kind.drift_sample(self._engine, 0.0)
        rng = np.random.default_rng(ctx.job_id)
        kept: dict[str, list[float]] = {}
        for feature, values in (sample or {}).items():
            finite = np.asarray(values, dtype=np.float64)
            finite = finite[np.isfinite(finite)]
            if finite.size > REFERENCE_MAX:
                finite = rng.choice(finite, REFERENCE_MAX, replace=False)
            kept[feature] = [float(v) for v in finite]
        return kept


class _Sink:
    """A RunContext's writes, as the held attempt's conditional writes."""

    def __init__(self, leases: Leases, held: Attempt) -> None:
        self._leases, self._held = leases, held

    def write(self, progress: float, step: str | None, lines: list[LogLine]) -> bool:
        return self._leases.write(self._held, progress, step, lines)

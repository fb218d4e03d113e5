"""Training jobs as the API and the CLI read them, and how a job comes to be (``JobStore.create``).

A new job is ``queued`` with attempt 1. The database refuses a second
unfinished job of the same pipeline (``ux_training_jobs_active``), so two
trigger checks on two workers, or a trigger and a manual run, never queue two.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from .errors import PipelineBusy, UnknownJob, UnknownPipeline
from .states import State
from .tables import training_jobs, training_logs, training_pipelines

MAX_LIMIT = 1000


class Job(BaseModel):
    id: int
    pipeline: str
    kind: str
    state: State
    trigger: str = Field(description="manual, schedule, labels, drift or performance")
    reason: str = Field(description="why it was started, e.g. 'labels: 57 new verdicts >= 50'")
    params: dict[str, Any]
    data_snapshot_id: Optional[str] = None
    parent_version: Optional[str] = None
    attempt: int
    max_attempts: int
    lease_owner: Optional[str] = None
    lease_until: Optional[float] = None
    eligible_ts: float = Field(description="a queued job runs from then on (retry backoff)")
    created_ts: float
    started_ts: Optional[float] = Field(None, description="the current or last attempt's start")
    ended_ts: Optional[float] = None
    duration_s: Optional[float] = Field(None, description="ended_ts - started_ts")
    progress: float = Field(ge=0, le=1)
    step: Optional[str] = Field(None, description="what the running step said last")
    timings: dict[str, float] = Field(description="seconds per finished step of the current attempt")
    metrics: dict[str, Any]
    result: dict[str, Any]
    error: Optional[str] = None

    @property
    def finished(self) -> bool:
        return self.ended_ts is not None


class LogOut(BaseModel):
    id: int
    ts: float
    level: str
    line: str


class JobStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, pipeline: str, *, trigger: str, reason: str, params: dict[str, Any] | None = None,
               max_attempts: int = 3) -> Job:
        """A queued job of ``pipeline``; PipelineBusy when the pipeline has an unfinished one."""
        now = self._clock()
        with self._engine.begin() as conn:
            kind = conn.execute(select(training_pipelines.c.kind)
                                .where(training_pipelines.c.name == pipeline)).scalar()
        if kind is None:
            raise UnknownPipeline(pipeline)
        row = {"pipeline": pipeline, "kind": kind, "state": State.QUEUED.value, "trigger": trigger,
               "reason": reason, "params": params or {}, "attempt": 1, "max_attempts": max_attempts,
               "eligible_ts": now, "created_ts": now, "progress": 0.0, "timings": {}, "metrics": {}, "result": {}}
        try:
            with self._engine.begin() as conn:
                job_id = conn.execute(insert(training_jobs).values(**row)
                                      .returning(training_jobs.c.id)).scalar_one()
        except IntegrityError:
            active = self.active(pipeline)
            raise PipelineBusy(pipeline, active.id if active else None) from None
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self._engine.connect() as conn:
            row = conn.execute(select(training_jobs).where(training_jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise UnknownJob(job_id)
        return job_of(row)

    def list(self, *, pipeline: str | None = None, state: State | None = None, limit: int = 100) -> list[Job]:
        """Newest first."""
        query = select(training_jobs).order_by(training_jobs.c.id.desc()).limit(min(max(limit, 1), MAX_LIMIT))
        if pipeline is not None:
            query = query.where(training_jobs.c.pipeline == pipeline)
        if state is not None:
            query = query.where(training_jobs.c.state == state.value)
        with self._engine.connect() as conn:
            return [job_of(r) for r in conn.execute(query).mappings()]

    def active(self, pipeline: str) -> Job | None:
        """The pipeline's unfinished job, if it has one."""
        return self._first(pipeline, training_jobs.c.ended_ts.is_(None))

    def latest(self, pipeline: str) -> Job | None:
        """The pipeline's newest job, whatever its state: "the last run" of the triggers."""
        return self._first(pipeline)

    def latest_done(self, pipeline: str) -> tuple[Job, dict[str, np.ndarray]] | None:
        """The pipeline's newest done job and its drift reference sample."""
        query = (select(training_jobs).where(training_jobs.c.pipeline == pipeline,
                                             training_jobs.c.state == State.DONE.value)
                 .order_by(training_jobs.c.id.desc()).limit(1))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        reference = {k: np.asarray(v, dtype=np.float64) for k, v in (row["reference"] or {}).items()}
        return job_of(row), reference

    def logs(self, job_id: int, *, after_id: int = 0, limit: int = 500) -> list[LogOut]:
        self.get(job_id)  # UnknownJob for a job that is not there, not an empty list
        query = (select(training_logs).where(training_logs.c.job_id == job_id, training_logs.c.id > after_id)
                 .order_by(training_logs.c.id).limit(min(max(limit, 1), 10 * MAX_LIMIT)))
        with self._engine.connect() as conn:
            return [LogOut(id=r.id, ts=r.ts, level=r.level, line=r.line) for r in conn.execute(query)]

    def _first(self, pipeline: str, *conditions: Any) -> Job | None:
        query = (select(training_jobs).where(training_jobs.c.pipeline == pipeline, *conditions)
                 .order_by(training_jobs.c.id.desc()).limit(1))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return job_of(row) if row is not None else None


def job_of(row: RowMapping) -> Job:
    return Job.model_validate({k: v for k, v in row.items() if k != "reference"})

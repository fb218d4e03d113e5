"""The job queue on huey: SQLite in the data dir by default (no server), Redis for workers on several machines.

The queue carries only ``(job id, attempt)``; the job itself is in the cloud
database (:mod:`.jobs`), where a worker claims it (:mod:`.leases`). Besides
running jobs, the workers run two periodic tasks every ``tick_s``: the
trigger check (:meth:`JobQueue.check_triggers`) and the lease reaper
(:meth:`JobQueue.reap`). Every worker's scheduler enqueues them, so with
several workers they run several times a tick; both are safe to: a second
trigger check meets the pipeline's unfinished job, a second reaper finds the
lease already moved on.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from sqlalchemy import Engine

from .errors import ManualRunsOff, PipelineBusy, TrainingError
from .firing import History, check
from .jobs import Job, JobStore
from .kinds import get_kind
from .pipelines import Pipeline, PipelineStore
from .runner import JobRunner
from .settings import JobSettings

log = logging.getLogger(__name__)
QUEUE_NAME = "siteguard-training"
SQLITE_FILE = "jobs.sqlite3"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def make_huey(jobs_url: str | None, data_dir: Path) -> Huey:
    """``None``: SQLite at ``data_dir/jobs.sqlite3``; ``redis://...``: Redis; a path or ``sqlite:///PATH``: that
    file. ValueError for any other URL."""
    if jobs_url is not None and jobs_url.startswith(REDIS_SCHEMES):
        return RedisHuey(QUEUE_NAME, url=jobs_url, results=False)
    if jobs_url is None:
        path = data_dir / SQLITE_FILE
    elif jobs_url.startswith("sqlite:///"):
        path = Path(jobs_url[len("sqlite:///"):])
    elif "://" in jobs_url:
        raise ValueError(f"unsupported job queue URL {jobs_url.split('://', 1)[0]}://...: use redis://HOST:PORT/DB, "
                         "a file path or sqlite:///PATH")
    else:
        path = Path(jobs_url)
    path.expanduser().parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(path.expanduser()), results=False)


def _every_tick(_: Any) -> bool:
    """A periodic task's schedule: every time the scheduler checks (every ``tick_s``, see .worker)."""
    return True


class JobQueue:
    """Jobs in, on ``huey``: what the API and the CLI submit, and the tasks a worker runs."""

    def __init__(self, huey: Huey, engine: Engine, data_dir: Path, settings: JobSettings | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.huey = huey
        self.engine = engine
        self.settings = settings or JobSettings()
        self.clock = clock
        self.jobs = JobStore(engine, clock=clock)
        self.pipelines = PipelineStore(engine, clock=clock)
        self.runner = JobRunner(engine, data_dir, self.settings, clock=clock)
        self._run = huey.task(name="siteguard.training.run")(self.run)
        huey.periodic_task(_every_tick, name="siteguard.training.reap")(self.reap)
        huey.periodic_task(_every_tick, name="siteguard.training.triggers")(self.check_triggers)

    def submit(self, pipeline: str, *, trigger: str = "manual", reason: str = "manual",
               params: dict[str, Any] | None = None, max_attempts: int | None = None) -> Job:
        """Queues a job of ``pipeline``; PipelineBusy while it has an unfinished one, ManualRunsOff for a
        manual run of a pipeline without a manual trigger."""
        if trigger == "manual" and not self.pipelines.get(pipeline).accepts_manual():
            raise ManualRunsOff(pipeline)
        job = self.jobs.create(pipeline, trigger=trigger, reason=reason, params=params,
                               max_attempts=max_attempts or self.settings.max_attempts)
        self.enqueue(job.id, job.attempt)
        return job

    def enqueue(self, job_id: int, attempt: int, delay_s: float = 0.0) -> None:
        if delay_s > 0:
            self._run.schedule(args=(job_id, attempt), delay=delay_s)
        else:
            self._run(job_id, attempt)

    # -- the tasks ---------------------------------------------------------------------------------

    def run(self, job_id: int, attempt: int) -> None:
        """The queue's task: runs the attempt if this worker claims it, and sends the next one if it failed."""
        retry = self.runner.run(job_id, attempt)
        if retry is not None and retry.attempt is not None:
            self.enqueue(job_id, retry.attempt, retry.delay_s)

    def reap(self) -> int:
        """Expired leases to their next attempt (or failed), forgotten queued jobs sent again; how many sent."""
        sent = self.runner.leases.reap()
        for job_id, attempt in sent:
            self.enqueue(job_id, attempt)
        return len(sent)

    def check_triggers(self) -> list[Job]:
        """Queues a job for each pipeline with no unfinished job whose trigger fires now; the jobs queued."""
        queued = []
        for pipeline in self.pipelines.list():
            try:
                job = self._check(pipeline)
            except Exception:  # one pipeline's broken data or kind must not stop the others' triggers
                log.exception("checking the triggers of pipeline %s failed", pipeline.name)
                continue
            if job is not None:
                queued.append(job)
        return queued

    def _check(self, pipeline: Pipeline) -> Job | None:
        if self.jobs.active(pipeline.name) is not None:
            return None
        try:
            kind = get_kind(pipeline.kind)
        except TrainingError as exc:
            log.warning("pipeline %s: %s", pipeline.name, exc)
            return None
        history = History(pipeline, kind, self.jobs.latest(pipeline.name), self.jobs.latest_done(pipeline.name))
        now = self.clock()
        for trigger in pipeline.triggers:
            fired = check(trigger, history, self.engine, now)
            if fired is None:
                continue
            try:
                return self.submit(pipeline.name, trigger=fired.trigger, reason=fired.reason)
            except PipelineBusy:
                return None
        return None

    def close(self) -> None:
        self.huey.storage.close()

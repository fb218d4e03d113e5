"""The training tests' parts: a job queue on the test's cloud database (SQLite or PostgreSQL) with fast
leases and ticks, and its SQLite huey file in the test's directory."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cloud_sync.training import JobQueue, JobSettings, Job, JobStore, PipelineIn, make_huey

from . import kinds

FAST = JobSettings(lease_s=2.0, renew_s=0.5, tick_s=1, retry_delay_s=0.2, retry_max_delay_s=1.0,
                   write_every_s=0.05, poll_s=0.2)
WAIT_S = 30.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def queue(cloud_engine: Engine, data_dir: Path) -> Iterator[JobQueue]:
    jobs = JobQueue(make_huey(None, data_dir), cloud_engine, data_dir, FAST)
    yield jobs
    jobs.close()


def pipeline(queue: JobQueue, name: str = "hr", **fields: object) -> None:
    queue.pipelines.put(name, PipelineIn.model_validate({"kind": kinds.KIND, **fields}))


def wait_for(jobs: JobStore, job_id: int, done: Callable[[Job], bool], timeout_s: float = WAIT_S) -> Job:
    """Polls the job until ``done`` says so (bounded); the last state in the failure message."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = jobs.get(job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not get there in {timeout_s} s: {job}")
        time.sleep(0.05)

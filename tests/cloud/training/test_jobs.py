"""Jobs on SQLite and PostgreSQL: the state machine and its timings, one run across racing workers, retries
of a failing step up to max_attempts, a lost lease, and the migrated schema against the tables."""
from __future__ import annotations

import json
import threading
from typing import get_args
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import cloud_sync.db.schema  # noqa: F401
import cloud_sync.registry.tables  # noqa: F401
import cloud_sync.training.tables  # noqa: F401
from cloud_sync.db.metadata import metadata
from cloud_sync.training import JobQueue, PipelineBusy, State, embedded_worker
from cloud_sync.training.jobs import Job
from cloud_sync.training.leases import Attempt, Leases
from cloud_sync.training.states import StateName

from . import kinds
from .conftest import pipeline, wait_for


def _diffs_of_ours(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in diffs if "training_" in repr(d)]


def test_the_migration_builds_the_training_tables(cloud_engine: Engine) -> None:
    assert _diffs_of_ours(cloud_engine) == []


def _states(queue: JobQueue, job_id: int) -> list[str]:
    return [line.line for line in queue.jobs.logs(job_id)]


def test_a_run_goes_through_every_state_with_its_timings(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 400)
    pipeline(queue, options={"step_s": 0.3})
    job = queue.jobs.create("hr", trigger="manual", reason="manual")
    assert job.state is State.QUEUED and job.attempt == 1 and job.started_ts is None
    with pytest.raises(PipelineBusy):
        queue.jobs.create("hr", trigger="manual", reason="again")
    seen: list[State] = []

    def watch() -> None:
        final = wait_for(queue.jobs, job.id, lambda j: (seen.append(j.state) or j.finished))
        assert final.state is State.DONE

    watcher = threading.Thread(target=watch)
    watcher.start()
    queue.run(job.id, 1)
    watcher.join(30)
    done = queue.jobs.get(job.id)
    assert done.state is State.DONE and done.progress == 1.0 and done.error is None
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] is not s]
    assert State.TRAINING in order and order[-1] is State.DONE
    assert [s for s in order if s is not State.QUEUED] == sorted(
        (s for s in order if s is not State.QUEUED), key=list(State).index)
    assert done.created_ts <= done.started_ts <= done.ended_ts
    assert done.duration_s == pytest.approx(done.ended_ts - done.started_ts)
    assert set(done.timings) == {"preprocessing", "training", "evaluating", "packaging"}
    assert done.timings["training"] >= 0.3 and sum(done.timings.values()) <= done.duration_s + 0.01
    assert done.metrics["accuracy"] > 0.9 and done.metrics["auc"] > 0.95
    assert done.data_snapshot_id and "400 rows" in done.data_snapshot_id
    assert json.loads(Path(done.result["artifact"]).read_text())["coef"]
    logs = _states(queue, job.id)
    assert "read 400 hr readings" in logs and logs[-1] == "attempt 1 done"
    assert queue.jobs.create("hr", trigger="manual", reason="again").id > job.id  # a finished job blocks nothing


def test_one_run_across_two_racing_workers(queue: JobQueue, cloud_engine: Engine, data_dir: Path) -> None:
    kinds.add_readings(cloud_engine, 200)
    marker = data_dir / "marker"
    pipeline(queue, options={"marker": str(marker)})
    job = queue.jobs.create("hr", trigger="manual", reason="manual")
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def worker() -> None:
        start.wait()
        outcomes.append(queue.runner.run(job.id, 1))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert queue.jobs.get(job.id).state is State.DONE
    assert marker.read_text().splitlines() == ["start 1", "end 1"]
    assert sum("claimed" in line for line in _states(queue, job.id)) == 1
    assert queue.runner.run(job.id, 1) is None  # a late duplicate delivery finds nothing to do


def test_a_failing_step_is_retried_then_the_job_fails_with_its_error(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 100, hr_mean=80, hr_sd=5)  # one class only: LogisticRegression refuses it
    pipeline(queue)
    job = queue.submit("hr", max_attempts=3)
    with embedded_worker(queue, workers=2):
        failed = wait_for(queue.jobs, job.id, lambda j: j.finished)
    assert failed.state is State.FAILED and failed.attempt == 3
    assert failed.error.startswith("training: ValueError: ") and "class" in failed.error
    logs = _states(queue, job.id)
    assert sum("claimed" in line for line in logs) == 3
    assert "attempt 1 of 3 failed" in "\n".join(logs) and logs[-1].endswith("the job failed")
    assert any("Traceback" in line for line in logs)


def test_a_refused_step_fails_the_job_at_once_with_its_reason(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 200)
    pipeline(queue, options={"min_accuracy": 1.01})  # no model can pass this gate
    job = queue.submit("hr", max_attempts=3)
    with embedded_worker(queue, workers=1):
        failed = wait_for(queue.jobs, job.id, lambda j: j.finished)
    assert failed.state is State.FAILED and failed.attempt == 1  # not retried: another attempt would be refused too
    assert failed.error.startswith("evaluating: gate: accuracy ")
    logs = _states(queue, job.id)
    assert any(line.startswith("refused: gate") for line in logs)
    assert any(line.startswith("metrics: ") and '"accuracy"' in line for line in logs)


def test_a_lost_lease_stops_the_old_attempt_and_queues_the_next(queue: JobQueue, cloud_engine: Engine) -> None:
    now = [1000.0]
    leases = Leases(cloud_engine, queue.settings, clock=lambda: now[0])
    kinds.add_readings(cloud_engine, 10)
    pipeline(queue)
    job = queue.jobs.create("hr", trigger="manual", reason="manual")
    assert leases.claim(job.id, 1, "w1") is not None and leases.claim(job.id, 1, "w2") is None
    held = Attempt(job.id, 1, "w1")
    now[0] += queue.settings.lease_s / 2
    assert leases.renew(held)
    now[0] += queue.settings.lease_s + 1
    assert leases.reap() == [(job.id, 2)]
    assert leases.reap() == []  # a second reaper finds it moved on
    again: Job = queue.jobs.get(job.id)
    assert again.state is State.QUEUED and again.attempt == 2 and "worker lost" in (again.error or "")
    assert not leases.renew(held) and not leases.write(held, 0.5, "late", [])
    assert leases.claim(job.id, 1, "w1") is None and leases.claim(job.id, 2, "w3") is not None


def test_the_state_names_are_the_states() -> None:
    assert list(get_args(StateName)) == [s.value for s in State]

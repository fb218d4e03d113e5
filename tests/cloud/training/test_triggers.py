"""Triggers on SQLite and PostgreSQL: labels fire at N new verdicts and not below, drift on one feature fires
and a tiny batch does not, a cron schedule fires per an injected clock, live precision and recall below their
thresholds fire, and each queues at most one job with the reason it fired. Bad pipelines are refused."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert

from cloud_sync.db.schema import DATA_TABLES
from cloud_sync.training import InvalidPipeline, JobQueue, PipelineIn, State, make_huey
from cloud_sync.training.drift import ks, psi

from . import kinds
from .conftest import FAST, pipeline


def _finish(queue: JobQueue, job_id: int) -> None:
    queue.run(job_id, 1)
    assert queue.jobs.get(job_id).state is State.DONE


def test_labels_fire_at_n_new_verdicts_and_not_below(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 200)
    pipeline(queue, triggers=[{"type": "labels", "min_new": 50}])
    kinds.add_verdicts(cloud_engine, [("gas_high", "confirmed")] * 49)
    assert queue.check_triggers() == []
    kinds.add_verdicts(cloud_engine, [("gas_high", "false_alarm")], first_edge_id=50)
    [job] = queue.check_triggers()
    assert (job.trigger, job.reason, job.state) == ("labels", "labels: 50 new verdicts >= 50", State.QUEUED)
    assert queue.check_triggers() == []  # one unfinished job per pipeline at a time
    _finish(queue, job.id)
    assert queue.check_triggers() == []  # counted from the last run: none new since
    kinds.add_verdicts(cloud_engine, [("gas_high", "confirmed")] * 49, first_edge_id=100)
    assert queue.check_triggers() == []
    kinds.add_verdicts(cloud_engine, [("gas_high", "confirmed")] * 8, first_edge_id=200)
    [again] = queue.check_triggers()
    assert again.reason == "labels: 57 new verdicts >= 50"


def test_drift_on_one_feature_fires_and_a_tiny_batch_does_not(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 1000, hr_mean=100, seed=1, received_ts=time.time() - 3600)
    drift = {"type": "drift", "method": "psi", "threshold": 0.2, "min_samples": 100}
    pipeline(queue, "all", triggers=[{"type": "manual"}, drift])
    pipeline(queue, "v2-only", triggers=[{"type": "manual"}, {**drift, "features": ["v2"]}])
    assert queue.check_triggers() == []  # no done run: nothing to compare with
    for name in ("all", "v2-only"):
        _finish(queue, queue.submit(name).id)
    kinds.add_readings(cloud_engine, 50, hr_mean=160, seed=2)  # far off, but a tiny batch
    assert queue.check_triggers() == []
    kinds.add_readings(cloud_engine, 400, hr_mean=160, seed=3)
    [job] = queue.check_triggers()  # hr moved, v2 did not
    assert (job.pipeline, job.trigger) == ("all", "drift")
    assert job.reason.startswith("drift: psi(hr)=") and job.reason.endswith("> 0.2 on 450 rows")
    assert float(job.reason.split("=")[1].split()[0]) > 1.0


def test_a_schedule_fires_per_its_cron_on_an_injected_clock(cloud_engine: Engine, data_dir: Path) -> None:
    now = [datetime(2026, 1, 1, 1, 0, tzinfo=timezone.utc).timestamp()]
    queue = JobQueue(make_huey(None, data_dir), cloud_engine, data_dir, FAST, clock=lambda: now[0])
    try:
        kinds.add_readings(cloud_engine, 100)
        pipeline(queue, triggers=[{"type": "schedule", "cron": "0 3 * * *"}])
        at = {"02:59": 7140, "03:00:30": 7230}
        now[0] += at["02:59"]
        assert queue.check_triggers() == []
        now[0] += at["03:00:30"] - at["02:59"]
        [job] = queue.check_triggers()
        assert job.reason == "schedule: 0 3 * * * was due at 2026-01-01T03:00:00Z"
        _finish(queue, job.id)
        now[0] += 3600
        assert queue.check_triggers() == []
        now[0] += 23 * 3600
        [tomorrow] = queue.check_triggers()
        assert tomorrow.reason == "schedule: 0 3 * * * was due at 2026-01-02T03:00:00Z"
    finally:
        queue.close()


def _alarm(edge_id: int, alarm_id: str, kind: str, raised_ts: float) -> dict[str, object]:
    return {"device_id": "edge-1", "site": "plant-a", "edge_id": edge_id, "alarm_id": alarm_id,
            "subject": "worker:w1", "condition": kind, "kind": kind, "priority": "high", "state": "unack_active",
            "message": kind, "raised_ts": raised_ts, "updated_ts": raised_ts, "latching": False,
            "condition_active": True, "received_ts": raised_ts}


def test_live_precision_and_recall_below_their_thresholds_fire(queue: JobQueue, cloud_engine: Engine) -> None:
    kinds.add_readings(cloud_engine, 100)
    precision = {"type": "performance", "alarm_kinds": ["risk_rising"], "min_precision": 0.6, "min_verdicts": 20}
    pipeline(queue, "precision", triggers=[precision])
    kinds.add_verdicts(cloud_engine, [("risk_rising", "confirmed")] * 8 + [("risk_rising", "false_alarm")] * 11)
    assert queue.check_triggers() == []  # 19 verdicts: too few to judge
    kinds.add_verdicts(cloud_engine, [("risk_rising", "false_alarm")], first_edge_id=20)
    [job] = queue.check_triggers()
    assert job.reason == "performance: precision 0.40 < 0.6 on 20 verdicts"

    recall = {"type": "performance", "alarm_kinds": ["risk_rising"], "min_recall": 0.5, "min_verdicts": 10}
    pipeline(queue, "recall", triggers=[recall])
    base = time.time() - 7200
    alarms = [_alarm(100 + i, f"a-{100 + i}", "gas_high", base + 600 * i) for i in range(10)]
    alarms += [_alarm(200 + i, f"r-{i}", "risk_rising", base + 600 * i - 120) for i in range(3)]
    with cloud_engine.begin() as conn:
        conn.execute(insert(DATA_TABLES["alarms"]), alarms)
    kinds.add_verdicts(cloud_engine, [("gas_high", "confirmed")] * 10, first_edge_id=100)
    [job] = queue.check_triggers()
    assert job.reason == "performance: recall 0.30 < 0.5 on 10 confirmed alarms"


def test_bad_pipelines_are_refused_naming_the_problem(queue: JobQueue) -> None:
    with pytest.raises(ValidationError, match="five-field cron"):
        PipelineIn.model_validate({"kind": kinds.KIND, "triggers": [{"type": "schedule", "cron": "3am daily"}]})
    with pytest.raises(ValidationError, match="min_precision, min_recall or both"):
        PipelineIn.model_validate({"kind": kinds.KIND, "triggers": [{"type": "performance",
                                                                     "alarm_kinds": ["x"]}]})
    with pytest.raises(InvalidPipeline, match="no pipeline kind 'nope'"):
        queue.pipelines.put("p", PipelineIn(kind="nope"))
    with pytest.raises(InvalidPipeline, match="options.bogus"):
        queue.pipelines.put("p", PipelineIn(kind=kinds.KIND, options={"bogus": 1}))
    with pytest.raises(InvalidPipeline, match="pipeline name"):
        queue.pipelines.put("no spaces", PipelineIn(kind=kinds.KIND))


def test_drift_statistics() -> None:
    rng = np.random.default_rng(0)
    same, moved = rng.normal(100, 20, 5000), rng.normal(130, 20, 5000)
    assert psi(same, rng.normal(100, 20, 5000)) < 0.05 and psi(same, moved) > 0.5
    assert ks(same, rng.normal(100, 20, 5000)) < 0.05 and ks(same, moved) > 0.5

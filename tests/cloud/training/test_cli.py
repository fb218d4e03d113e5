"""``siteguard cloud train|jobs`` (SQLite and PostgreSQL): ``train --wait`` shows the job's progress until it
is done and exits 0 (1 when it failed or is refused); ``jobs`` lists them as a table."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from cloud_sync.training import JobQueue, State, embedded_worker
from edge_runtime.cli import main

from . import kinds
from .conftest import pipeline


def cloud(url: str, data_dir: Path, *args: str) -> int:
    return main(["cloud", *args, "--db", url, "--data-dir", str(data_dir)])


def test_train_wait_shows_progress_and_exits_by_the_outcome(cloud_url: str, cloud_engine: Engine, data_dir: Path,
                                                            queue: JobQueue,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    kinds.add_readings(cloud_engine, 300)
    pipeline(queue, options={"step_s": 1.0})
    with embedded_worker(queue):
        assert cloud(cloud_url, data_dir, "train", "--pipeline", "hr", "--wait", "--timeout", "60") == 0
    out, err = capsys.readouterr()
    job_id = int(out.strip())
    assert f"job {job_id} of hr queued" in err
    assert "training (attempt 1)" in err and "epoch" in err  # the bar showed the step and its messages
    assert "100%" in err and f"job {job_id} done in" in err and '"accuracy"' in err
    assert queue.jobs.get(job_id).state is State.DONE

    assert cloud(cloud_url, data_dir, "train", "--pipeline", "nope") == 1
    assert "refused: no pipeline named 'nope'" in capsys.readouterr().err
    assert cloud(cloud_url, data_dir, "train", "--pipeline", "hr", "--params", "[1]") == 1

    pipeline(queue, "one-class")
    with cloud_engine.begin() as conn:  # readings of one class only: LogisticRegression refuses them
        conn.exec_driver_sql("DELETE FROM readings WHERE v1 > 120")
    with embedded_worker(queue):
        assert cloud(cloud_url, data_dir, "train", "--pipeline", "one-class", "--wait", "--timeout", "60",
                     "--params", '{"note": "fails"}') == 1
    err = capsys.readouterr().err
    assert "failed after 3 attempt(s): training: ValueError" in err

    assert cloud(cloud_url, data_dir, "jobs") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["ID", "PIPELINE", "STATE"] and len(table) == 3
    assert table[1].split()[1:4] == ["one-class", "failed", "3/3"] and table[2].split()[1:3] == ["hr", "done"]
    assert cloud(cloud_url, data_dir, "jobs", "--state", "done", "--pipeline", "hr") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

"""A killed worker's job is retried and completes once (SQLite and PostgreSQL): ``siteguard cloud worker`` as
a child process is SIGKILLed mid-step; another worker (started once the first has the job) finds the expired
lease, the job's second attempt runs to the end, and the step that was cut off completes exactly once.
SIGTERM stops a worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from cloud_sync.training import JobQueue, State

from . import kinds
from .conftest import pipeline, wait_for

ROOT = Path(__file__).resolve().parents[3]
STOP_S = 15.0


@contextmanager
def worker(url: str, data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``siteguard cloud worker`` with this suite's kind, 1 s ticks and 2 s leases; killed at the end if alive."""
    command = [sys.executable, "-m", "edge_runtime", "cloud", "worker", "--db", url, "--data-dir", str(data_dir),
               "--kinds", "tests.cloud.training.kinds", "--tick", "1", "--lease", "2"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(STOP_S)


def _until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def test_a_killed_workers_job_is_retried_and_completes_once(cloud_url: str, cloud_engine: Engine, data_dir: Path,
                                                            queue: JobQueue, tmp_path: Path) -> None:
    kinds.add_readings(cloud_engine, 300)
    marker, hold = tmp_path / "marker", tmp_path / "hold"
    hold.touch()  # attempt 1 waits in its training step until the test kills its worker
    pipeline(queue, options={"step_s": 1.0, "marker": str(marker), "hold": str(hold)})
    job = queue.submit("hr")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with worker(cloud_url, data_dir, first_log) as first:
        _until(lambda: marker.exists() and "start 1" in marker.read_text(), 60, f"attempt 1 started ({first_log})")
        running = queue.jobs.get(job.id)
        assert running.state is State.TRAINING and running.lease_owner
        with worker(cloud_url, data_dir, second_log) as second:  # started once the first has the job
            _until(lambda: "training worker:" in second_log.read_text(), 60, f"the second is up ({second_log})")
            first.send_signal(signal.SIGKILL)
            assert first.wait(STOP_S) == -signal.SIGKILL
            assert marker.read_text().splitlines() == ["start 1"]  # cut off mid-step
            hold.unlink()
            done = wait_for(queue.jobs, job.id, lambda j: j.finished, timeout_s=60)
            second.send_signal(signal.SIGTERM)
            assert second.wait(STOP_S) == 0, second_log.read_text()[-2000:]
    assert done.state is State.DONE and done.attempt == 2 and done.error is None
    assert marker.read_text().splitlines() == ["start 1", "start 2", "end 2"]
    lines = [line.line for line in queue.jobs.logs(job.id)]
    assert sum("claimed" in line for line in lines) == 2
    assert any(line.startswith("attempt 1 of 3 failed: worker lost: the lease of") for line in lines)

"""The Redis job queue (SQLite and PostgreSQL for the jobs): a throw-away ``redis-server`` on a free loopback
port, one job submitted on one huey and run by a worker on another, as on two machines."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from cloud_sync.training import JobQueue, State, embedded_worker, make_huey
from huey import RedisHuey
from tests.processes import stop_process

from . import kinds
from .conftest import FAST, pipeline, wait_for

REDIS_SERVER = Path("/usr/bin/redis-server")
START_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = REDIS_SERVER if REDIS_SERVER.exists() else shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server (Debian package redis-server) is not installed: make test installs it")
    port = _free_port()
    process = subprocess.Popen([str(server), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not answer on port {port} within {START_S} s") from None
                time.sleep(0.05)
        yield url
    finally:
        stop_process(process)


def test_a_job_through_redis(redis_url: str, cloud_engine: Engine, tmp_path: Path) -> None:
    kinds.add_readings(cloud_engine, 200)
    service = JobQueue(make_huey(redis_url, tmp_path / "service"), cloud_engine, tmp_path / "service", FAST)
    workers = JobQueue(make_huey(redis_url, tmp_path / "worker"), cloud_engine, tmp_path / "worker", FAST)
    try:
        assert isinstance(service.huey, RedisHuey)
        pipeline(service)
        job = service.submit("hr")
        assert service.huey.pending_count() == 1
        with embedded_worker(workers, workers=2):
            done = wait_for(service.jobs, job.id, lambda j: j.finished)
        assert done.state is State.DONE and done.attempt == 1 and done.metrics["accuracy"] > 0.9
        assert not (tmp_path / "service" / "jobs.sqlite3").exists()
        assert Path(done.result["artifact"]).is_relative_to(tmp_path / "worker")
    finally:
        service.close()
        workers.close()


def test_queue_urls_are_checked() -> None:
    with pytest.raises(ValueError, match="unsupported job queue URL amqp://"):
        make_huey("amqp://host", Path("."))

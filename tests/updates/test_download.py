"""The resumable download against the rollout double: cuts resume from the partial file, the cap holds,
a changed file starts over, a wrong hash is refused."""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cloud_sync.contract.signing import DeviceCredential
from edge_runtime.sync.bandwidth import TokenBucket
from edge_runtime.updates.client import RolloutClient
from edge_runtime.updates.download import Downloader, DownloadError
from edge_runtime.updates.threads import Worker
from firmware_bridge.backoff import Backoff

from .rollout_double import RolloutDouble

BLOB = os.urandom(300 * 1024)


@pytest.fixture
async def client(cloud: RolloutDouble, credential: DeviceCredential) -> AsyncIterator[RolloutClient]:
    async with aiohttp.ClientSession() as session:
        yield RolloutClient(session, cloud.url, credential, timeout_s=2.0, clock=time.time)


@pytest.fixture
def files() -> Worker:
    worker = Worker("test-files")
    yield worker
    worker.close()


def downloader(client: RolloutClient, tmp_path: Path, files: Worker, *, rate: float | None = None,
               retries: int = 3) -> Downloader:
    return Downloader(client, tmp_path / "downloads", TokenBucket(rate, time.monotonic), files, retries=retries,
                      backoff=lambda: Backoff(initial=0.01, maximum=0.05))


async def test_a_cut_download_resumes_from_the_partial_file(cloud: RolloutDouble, client: RolloutClient,
                                                            tmp_path: Path, files: Worker) -> None:
    model = cloud.offer("risk", "blob", BLOB, name="risk-test", version="2.0")
    cloud.cut_after = [100_000, 50_000]
    path = await downloader(client, tmp_path, files).fetch(model)
    assert path.read_bytes() == BLOB
    assert cloud.ranges[0] is None
    first_resume = int(cloud.ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < first_resume <= 100_000 and len(cloud.ranges) == 3
    assert int(cloud.ranges[2].removeprefix("bytes=").rstrip("-")) > first_resume
    assert not list((tmp_path / "downloads").glob("*.part"))


async def test_a_partial_file_survives_a_restart_and_is_resumed(cloud: RolloutDouble, client: RolloutClient,
                                                               tmp_path: Path, files: Worker) -> None:
    model = cloud.offer("risk", "blob", BLOB, name="risk-test", version="2.0")
    cloud.cut_after = [120_000]
    with pytest.raises(DownloadError) as failed:
        await downloader(client, tmp_path, files, retries=0).fetch(model)
    assert failed.value.retry
    assert 0 < (tmp_path / "downloads" / f"{model.package_sha256}.part").stat().st_size <= 120_000
    path = await downloader(client, tmp_path, files).fetch(model)  # a new agent, same folder
    assert path.read_bytes() == BLOB and cloud.ranges[-1] is not None


async def test_a_file_changed_on_the_server_starts_over(cloud: RolloutDouble, client: RolloutClient,
                                                        tmp_path: Path, files: Worker) -> None:
    changed = os.urandom(len(BLOB))
    model = cloud.offer("risk", "blob", changed, name="risk-test", version="2.0")
    cloud.offer("risk", "blob", BLOB, name="risk-test", version="2.0")  # same URL, other bytes at first
    cloud.cut_after = [80_000]
    with pytest.raises(DownloadError):
        await downloader(client, tmp_path, files, retries=0).fetch(model)
    cloud.offer("risk", "blob", changed, name="risk-test", version="2.0")  # new ETag: If-Range gets it all
    path = await downloader(client, tmp_path, files).fetch(model)
    assert path.read_bytes() == changed


async def test_bytes_that_do_not_match_the_sha256_are_refused(cloud: RolloutDouble, client: RolloutClient,
                                                              tmp_path: Path, files: Worker) -> None:
    model = cloud.offer("risk", "blob", BLOB, name="risk-test", version="2.0",
                        package_sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(DownloadError, match="sha256 does not match") as refused:
        await downloader(client, tmp_path, files).fetch(model)
    assert not refused.value.retry
    assert not list((tmp_path / "downloads").iterdir())


async def test_the_bandwidth_cap_holds(cloud: RolloutDouble, client: RolloutClient, tmp_path: Path,
                                       files: Worker) -> None:
    """300 KiB at 100 KiB/s: one second's burst, then about two seconds (order of magnitude only)."""
    model = cloud.offer("risk", "blob", BLOB, name="risk-test", version="2.0")
    started = time.monotonic()
    await downloader(client, tmp_path, files, rate=100 * 1024).fetch(model)
    elapsed = time.monotonic() - started
    assert 1.2 < elapsed < 20
    unlimited = time.monotonic()
    await downloader(client, tmp_path / "again", files).fetch(model)
    assert time.monotonic() - unlimited < elapsed / 2


async def test_the_loop_keeps_its_pace_during_a_download(cloud: RolloutDouble, client: RolloutClient,
                                                        tmp_path: Path, files: Worker) -> None:
    """Writing and hashing run on the file thread: a 5 ms ticker on the loop is never held up for long
    (an order of magnitude, not a latency figure: bench/ measures the alarm path)."""
    big = os.urandom(8 * 1024 * 1024)
    model = cloud.offer("risk", "big", big, name="risk-test", version="2.0")
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            lags.append(time.monotonic() - before - 0.005)

    probe = asyncio.create_task(ticker())
    try:
        path = await downloader(client, tmp_path, files).fetch(model)
    finally:
        probe.cancel()
    assert path.stat().st_size == len(big) and len(lags) > 5
    assert max(lags) < 0.5

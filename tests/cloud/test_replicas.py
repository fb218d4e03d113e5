"""Two real service processes on one PostgreSQL serve the same devices at once: the same batches sent to
both concurrently are stored once, a nonce used on one is refused by the other, a session or sign-in limit
made on one holds on the other."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.db.engine import make_engine
from cloud_sync.registry.devices import DeviceIn, DeviceRegistry
from cloud_sync.registry.profile import HardwareProfile
from cloud_sync.service.launch import CloudProcess
from tests.cloud.test_service_harness import ADMIN, PROFILE, AdminClient, DeviceClient, http_session, \
    readings_batch, settings_for

BATCHES = 8
ROWS = 50


@pytest.fixture
def replicas(cloud_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not cloud_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    with ExitStack() as stack:
        urls = tuple(stack.enter_context(CloudProcess(settings_for(cloud_url, tmp_path / f"data-{i}"), ADMIN,
                                                      log_path=tmp_path / f"replica-{i}.log"))
                     for i in range(2))
        yield urls  # type: ignore[misc]


def register(cloud_url: str, device_id: str) -> DeviceCredential:
    engine = make_engine(cloud_url)
    try:
        new = DeviceIn(id=device_id, site="plant-a", name=device_id, device_type="jetson-gw",
                       profile=HardwareProfile.model_validate(PROFILE))
        return DeviceCredential.parse(DeviceRegistry(engine).register(new)[1].credential)
    finally:
        engine.dispose()


async def test_the_same_batches_to_both_replicas_at_once_are_stored_once(
        replicas: tuple[str, str], cloud_url: str) -> None:
    credential = register(cloud_url, "edge-1")
    bodies = [readings_batch("edge-1", first_id=1 + i * ROWS, rows=ROWS) for i in range(BATCHES)]
    async with http_session(replicas[0]) as one, http_session(replicas[1]) as two:
        devices = [DeviceClient(one, credential), DeviceClient(two, credential)]
        answers = await asyncio.gather(*(d.batch(body) for body in bodies for d in devices))
    assert [a.status for a in answers] == [200] * 2 * BATCHES, answers
    fresh = [d for a in answers for d in a.body["durable"] if not d["duplicate"]]
    duplicate = [d for a in answers for d in a.body["durable"] if d["duplicate"]]
    assert len(fresh) == len(duplicate) == BATCHES  # each chunk stored by exactly one replica
    assert sorted(d["first_id"] for d in fresh) == [1 + i * ROWS for i in range(BATCHES)]


async def test_a_nonce_is_refused_by_the_other_replica_and_sessions_are_shared(
        replicas: tuple[str, str], cloud_url: str) -> None:
    credential = register(cloud_url, "edge-1")
    body = b'{"ts": 1.0, "interval_s": 30}'
    async with http_session(replicas[0]) as one, http_session(replicas[1]) as two:
        devices = [DeviceClient(one, credential), DeviceClient(two, credential)]
        headers = devices[0].signed("/v1/devices/edge-1/heartbeat", body)
        answers = await asyncio.gather(*(d.post("heartbeat", body, headers=headers) for d in devices))
        assert sorted(a.status for a in answers) == [200, 401]
        assert [a.body["error"] for a in answers if a.status == 401] == ["replayed nonce"]
        browser = AdminClient(one)
        assert (await browser.sign_in(ADMIN.name, ADMIN.password)).status == 200
        cookie = one.cookie_jar.filter_cookies(aiohttp.client.URL(replicas[0]))
        two.cookie_jar.update_cookies(cookie)
        elsewhere = AdminClient(two, dict(browser.headers))
        assert (await elsewhere.call("GET", "/session")).body["name"] == ADMIN.name
        assert (await elsewhere.call("DELETE", "/session")).status == 204
        assert (await browser.call("GET", "/session")).status == 401  # signed out on the other replica

"""The agent against the real rollout service (cloud_sync/rollout through `siteguard cloud serve`'s app, on
SQLite): a version pinned for the device is downloaded, verified, switched in and reported, and the service
acknowledges the events."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.db.migrate import upgrade
from cloud_sync.model_registry import ModelRegistry
from models.package import TrustedKey
from models.signing import key_id, public_key
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401
from tests.sync.conftest import until

from .conftest import NAME, OTHER_KEY, TRUSTED, Device, Package
from .test_rollout import risk_state

fleet = pytest.importorskip("tests.cloud.rollout.fleet", reason="the rollout service's test helpers are not here")


@pytest.fixture
def cloud_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: the service's PostgreSQL paths are its own tests' business."""
    path = tmp_path / "cloud.db"
    upgrade(str(path))
    yield f"sqlite:///{path}"


async def test_a_pinned_version_reaches_the_device_through_the_real_service(
        cloud: Cloud, packages: dict[str, Package], tmp_path: Path) -> None:  # noqa: F811
    registry = ModelRegistry(cloud.engine, cloud.data_dir / "models")
    for key in ("v1", "v2"):
        registry.register(packages[key].root, TRUSTED, "tests")
    (credential,) = fleet.add_devices(cloud.engine, {"edge-1": ("gateway", fleet.X86)}).values()
    pin = await cloud.admin().call("PUT", "/pins", {"slot": "risk", "scope": "device", "key": "edge-1",
                                                    "model": NAME, "version": "2.0"})
    assert pin.status == 200, pin
    device = Device(tmp_path / "edge", cloud, credential, packages["v1"].root)
    async with device.run(max_shadow_s=0.2, rollback={"watch_s": 0.3, "health_every_s": 0.05}) as (agent, slot):
        await until(lambda: risk_state(agent) == "active" and slot.active().version == "2.0", what="v2 active")
        await until(lambda: agent.status()["pending_events"] == 0 and agent.status()["reports"]["sent"] >= 2,
                    what="events acknowledged by the service")
        status = agent.status()
    assert status["reports"]["error"] is None and status["poll_error"] is None
    assert status["slots"]["risk"]["previous"]["version"] == "1.0"
    assert slot.activations == ["1.0", "2.0"]


async def test_a_key_rotation_keeps_the_device_updating_and_the_retired_key_is_refused_after_its_date(
        cloud: Cloud, packages: dict[str, Package], tmp_path: Path) -> None:  # noqa: F811
    """The site file trusts the old key until a date and the new one beside it: packages signed by either install
    until then; after it, one signed by the old key is refused and the device keeps what it runs."""
    registry = ModelRegistry(cloud.engine, cloud.data_dir / "models")
    both = {**TRUSTED, key_id(public_key(OTHER_KEY)): public_key(OTHER_KEY)}
    for key in ("v1", "v2", "v3", "foreign"):  # foreign: 2.1, signed by the new key
        registry.register(packages[key].root, both, "tests")
    (credential,) = fleet.add_devices(cloud.engine, {"edge-1": ("gateway", fleet.X86)}).values()
    (old_id, old), new = next(iter(TRUSTED.items())), public_key(OTHER_KEY)

    async def pin(version: str) -> None:
        got = await cloud.admin().call("PUT", "/pins", {"slot": "risk", "scope": "device", "key": "edge-1",
                                                        "model": NAME, "version": version})
        assert got.status == 200, got

    device = Device(tmp_path / "edge", cloud, credential, packages["v1"].root)
    device.trusted = {old_id: TrustedKey(old, retired_after=time.time() + 3600), "new": TrustedKey(new)}
    fast = {"max_shadow_s": 0.2, "rollback": {"watch_s": 0.3, "health_every_s": 0.05}}
    async with device.run(**fast) as (agent, slot):
        for version in ("2.0", "2.1"):  # the old key's package, then the new key's
            await pin(version)
            await until(lambda: risk_state(agent) == "active" and slot.active().version == version,
                        what=f"{version} active")
    device.trusted = {old_id: TrustedKey(old, retired_after=time.time() - 1), "new": TrustedKey(new)}
    await pin("3.0")  # signed by the old key, now retired
    async with device.run(**fast) as (agent, slot):
        await until(lambda: risk_state(agent) == "refused", what="the retired key's package refused")
        assert "retired" in (agent.status()["slots"]["risk"]["reason"] or "")
        assert slot.active().version == "2.1"

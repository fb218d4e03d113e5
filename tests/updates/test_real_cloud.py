"""The agent against the real rollout service (cloud_sync/rollout through `siteguard cloud serve`'s app, on
SQLite): a version pinned for the device is downloaded, verified, switched in and reported, and the service
acknowledges the events."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.db.migrate import upgrade
from cloud_sync.model_registry import ModelRegistry
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401
from tests.sync.conftest import until

from .conftest import NAME, TRUSTED, Device, Package
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

"""Fixtures for the update agent: real signed risk packages, the rollout double on loopback, a migrated
SQLite file, and one "daemon run" (agent + risk slot) at a time over them (``Device.run``)."""
from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sklearn.linear_model import LogisticRegression

from cloud_sync.contract.rollout import DesiredModel
from cloud_sync.contract.signing import DeviceCredential
from edge_runtime.config.updates import UpdateSettings
from edge_runtime.store.migrations import migrate_file
from edge_runtime.updates.agent import UpdateAgent
from edge_runtime.updates.client import RolloutClient
from edge_runtime.updates.state import UpdateState
from models.risk.packaging import package_risk_model
from models.risk.targets import PROFILES
from models.signing import key_id, public_key
from tests.models.risk_export.pipelines import N_FEATURES, dataset, fitted

from .risk_slot import RiskSlot
from .rollout_double import RolloutDouble

DEVICE = "edge-1"
KEY, OTHER_KEY = bytes(range(32)), bytes(range(1, 33))
TRUSTED = {key_id(public_key(KEY)): public_key(KEY)}
NAME = "risk-test"


@dataclass(frozen=True)
class Package:
    root: Path  # the signed package directory
    archive: bytes  # as the cloud serves it


def archive(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root, arcname=root.name)
    return buffer.getvalue()


def _build(out: Path, version: str, *, flip: bool = False, key: bytes = KEY, c: float = 1.0) -> Package:
    x, y = dataset(rows=200, seed=3)
    pipe = fitted(LogisticRegression(C=c, max_iter=200), data=(x, 1 - y if flip else y))
    package_risk_model(pipe, N_FEATURES, tuple(f"f{i}" for i in range(N_FEATURES)), out, name=NAME,
                       version=version, parent_version=None, run_id="test", metrics={}, signing_key=key,
                       profiles=(PROFILES["x86"],), holdout=dataset(rows=120, seed=21))
    return Package(out, archive(out))


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    """v1 (what the device starts with), v2 and v3 (good candidates), bad (decides the other way round: a
    shadow regression) and foreign (signed by a key the device does not trust)."""
    root = tmp_path_factory.mktemp("risk-packages")
    return {"v1": _build(root / "v1", "1.0"), "v2": _build(root / "v2", "2.0", c=0.05),
            "v3": _build(root / "v3", "3.0", c=0.2),
            "bad": _build(root / "bad", "2.0-bad", flip=True),
            "foreign": _build(root / "foreign", "2.1", key=OTHER_KEY)}


@pytest.fixture
def credential() -> DeviceCredential:
    return DeviceCredential.generate(DEVICE)


@pytest.fixture
async def cloud(credential: DeviceCredential) -> AsyncIterator[RolloutDouble]:
    double = RolloutDouble(credential)
    await double.start()
    yield double
    await double.stop()


def settings(**changes: Any) -> UpdateSettings:
    """Fast settings for tests: short polls, reports, retries and health reads."""
    values: dict[str, Any] = {"enabled": True, "poll_interval_s": 0.1, "report_interval_s": 0.2,
                              "request_timeout_s": 2.0, "retry_initial_s": 0.02, "retry_max_s": 0.1,
                              "memory_headroom_mb": 0, "rollback": {"health_every_s": 0.05}}
    values.update(changes)
    return UpdateSettings.model_validate(values)


@dataclass
class Device:
    """One device over one SQLite file and models folder; each :meth:`run` is one daemon run."""

    tmp: Path
    cloud: Any  # the rollout double, or the real service (tests/cloud's Cloud): what it needs is its url
    credential: DeviceCredential
    default: Path  # the site file's model package
    slot_options: dict[str, Any] = field(default_factory=dict)
    trusted: Mapping[str, Any] = field(default_factory=lambda: dict(TRUSTED))  # the site file's model keys
    db_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.db_path = self.tmp / "site.db"
        migrate_file(self.db_path)

    def offer(self, body: bytes, version: str, **desired: Any) -> DesiredModel:
        """Serve ``body`` as the risk slot's desired model ``version`` (``desired``: other DesiredModel fields)."""
        return self.cloud.offer("risk", f"{version}-{len(self.cloud.packages)}", body, name=NAME, version=version,
                                **desired)

    @property
    def models_dir(self) -> Path:
        return self.tmp / "models"

    @asynccontextmanager
    async def run(self, *, crash: bool = False, **changes: Any) -> AsyncIterator[tuple[UpdateAgent, RiskSlot]]:
        """Open the agent, boot the slot with what it says, run both; at the end stop cleanly, or (``crash``)
        end the run without the clean stop, as a killed daemon would."""
        state = UpdateState(self.db_path)
        async with aiohttp.ClientSession() as session:
            client = RolloutClient(session, self.cloud.url, self.credential, timeout_s=2.0, clock=time.time)
            agent = UpdateAgent(settings(**changes), state, client, trusted_keys=self.trusted,
                                models_dir=self.models_dir)
            await agent.open()
            slot = RiskSlot(dataset(rows=64, seed=5)[0], **{"n_features": N_FEATURES, **self.slot_options})
            await slot.start(agent.boot_package("risk") or self.default, self.trusted)
            stop = asyncio.Event()
            task = asyncio.create_task(agent.run(stop, {"risk": slot}))
            try:
                yield agent, slot
            finally:
                if crash:
                    task.cancel()
                else:
                    stop.set()
                await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10.0)
                await slot.stop()
                await agent.close()


@pytest.fixture
def device(tmp_path: Path, cloud: RolloutDouble, credential: DeviceCredential,
           packages: dict[str, Package]) -> Device:
    return Device(tmp_path, cloud, credential, packages["v1"].root)


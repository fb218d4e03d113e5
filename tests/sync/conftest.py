"""Fixtures for the sync agent: a real store process over a SQLite file, the cloud double on loopback,
and the agent on the test's loop (``running``) or in its own process (test_process.py)."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud_sync.contract.signing import DeviceCredential
from edge_runtime.config.devices import StorageSettings
from edge_runtime.config.sync import SyncSettings
from edge_runtime.store import Store
from edge_runtime.sync.agent import SyncAgent
from edge_runtime.sync.process import AgentSpec, open_agent

from .cloud_double import CloudDouble

DEVICE = "edge-1"


@pytest.fixture
def credential() -> DeviceCredential:
    return DeviceCredential.generate(DEVICE)


@pytest.fixture
def credential_file(tmp_path: Path, credential: DeviceCredential) -> Path:
    path = tmp_path / "device.credential"
    path.write_text(credential.text() + "\n")
    return path


@pytest.fixture
async def cloud(credential: DeviceCredential) -> AsyncIterator[CloudDouble]:
    double = CloudDouble(credential)
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "site.db"


@pytest.fixture
def make_store(db_path: Path) -> Iterator[Callable[..., Store]]:
    stores: list[Store] = []

    def factory(**settings: Any) -> Store:
        store = Store(StorageSettings(path=db_path, **settings))
        stores.append(store)
        store.open()
        return store

    yield factory
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


def sync_settings(url: str, credential_file: Path, **changes: Any) -> SyncSettings:
    """Fast settings for tests: short polls, retries and heartbeats."""
    values: dict[str, Any] = {
        "enabled": True, "url": url, "credential_file": credential_file, "max_age_s": 0.05, "poll_s": 0.02,
        "heartbeat_interval_s": 0.2, "request_timeout_s": 2.0, "retry_initial_s": 0.02, "retry_max_s": 0.2,
        "failures_to_open": 5, "open_s": 0.5,
    }
    values.update(changes)
    return SyncSettings.model_validate(values)


def agent_spec(store: Store, settings: SyncSettings, db_path: Path, timezone: str = "UTC") -> AgentSpec:
    return AgentSpec(settings, DEVICE, timezone, db_path, budget_bytes=512 * 1024 * 1024,
                     store_address=store.producer_address)


@asynccontextmanager
async def running(spec: AgentSpec, *, clock: Callable[[], float] = time.time,
                  context: Callable[[], dict[str, Any]] = dict) -> AsyncIterator[SyncAgent]:
    """The agent running on this loop; stopped (bounded) however the test ends."""
    stop = asyncio.Event()
    async with open_agent(spec, clock=clock, context=context) as agent:
        task = asyncio.create_task(agent.run(stop))
        try:
            yield agent
        finally:
            stop.set()
            await asyncio.wait_for(task, 5.0)


async def until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll (on the loop) until ``predicate`` holds; the seconds it took. Bounded: fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def committed_marks(db_path: Path) -> dict[str, int]:
    """The marks as the database holds them (what survives a crash)."""
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT tbl, synced_id FROM outbox").fetchall())

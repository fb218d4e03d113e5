"""Edge to cloud on the real parts: two edge daemons (each its own SQLite, emulated firmware, its own real
Mosquitto) upload through their sync agents (child processes) to ``siteguard cloud serve`` run as a real child
process, with devices registered through the cloud's command line.

* the cloud goes away (SIGTERM) for a while and comes back: every row of every synced table arrives exactly once
  (the edge and cloud databases compared row by row on (device, edge id)), and the backlog's alarms, transitions
  and verdicts were durable before its readings (the cloud's chunk ledger);
* SIGKILL of the cloud while it ingests the backlog, then of the edges' sync processes while they upload: still
  exactly once;
* the same on PostgreSQL with two service replicas ingesting from the same device (through a round-robin proxy)
  and another device on one of them, replicas SIGKILLed in turn.

The outage is compressed (``SITEGUARD_CLOUD_OUTAGE_S``, 20 s by default); everything is stopped on failure too.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from cloud_sync.db.schema import DATA_TABLES, chunks
from edge_runtime.alarms.model import Actor, Channel, Verdict
from edge_runtime.config.sync import SyncSettings
from edge_runtime.daemon import EdgeDaemon
from tests.broker import Mosquitto, find_mosquitto
from tests.e2e.cloud_harness import (
    CloudServer,
    RoundRobinProxy,
    assert_events_before_readings,
    assert_exactly_once,
    caught_up,
    cloud_max_ids,
    edge_marks,
    edge_max_ids,
    open_engine,
    register_device,
)
from tests.e2e.harness import SimSite

try:  # the cloud suite's throw-away PostgreSQL cluster (session-scoped)
    from tests.cloud.conftest import TEMPLATE, postgres_url  # noqa: F401 (a fixture)
except ImportError:  # pragma: no cover - only while tests/cloud is not there
    TEMPLATE = ""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

OUTAGE_S = float(os.environ.get("SITEGUARD_CLOUD_OUTAGE_S", "20"))
SITE = "demo-site"
DEVICES = ("edge-a", "edge-b")
SUPERVISOR = Actor(Channel.DASHBOARD, "e2e-supervisor", may_label=True)
CATCH_UP_S = 90.0


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")


@dataclass
class Edge:
    device: str
    site: SimSite
    daemon: EdgeDaemon
    db: Path


def sync_settings(url: str, credential_file: Path, **changes: Any) -> SyncSettings:
    values: dict[str, Any] = {
        "enabled": True, "url": url, "credential_file": credential_file, "max_age_s": 0.2, "poll_s": 0.05,
        "heartbeat_interval_s": 1.0, "request_timeout_s": 5.0, "retry_initial_s": 0.1, "retry_max_s": 1.0,
        "failures_to_open": 5, "open_s": 1.0, "max_rows": 500,
    }
    values.update(changes)
    return SyncSettings.model_validate(values)


def credentials(tmp: Path, db: str, cloud_dir: Path) -> dict[str, Path]:
    out = {}
    for device in DEVICES:
        path = tmp / f"{device}.credential"
        register_device(db, cloud_dir, device, SITE, path)
        out[device] = path
    return out


@asynccontextmanager
async def edges(tmp: Path, urls: dict[str, str], creds: dict[str, Path], **sync: Any) -> AsyncIterator[list[Edge]]:
    """One daemon per device, each with its own broker, simulator and SQLite; all stopped on the way out."""
    brokers: list[Mosquitto] = []
    started: list[Edge] = []
    sites: list[SimSite] = []
    try:
        for device in DEVICES:
            work = tmp / device
            work.mkdir()
            (work / "mqtt").mkdir()
            broker = Mosquitto(workdir=work / "mqtt")
            broker.start()
            brokers.append(broker)
            site = SimSite(work, broker.port, "demo.yaml")
            sites.append(site)
            config = await site.start()
            config = config.model_copy(update={"device_id": device,
                                               "sync": sync_settings(urls[device], creds[device], **sync)})
            daemon = EdgeDaemon(config)
            await daemon.start()
            started.append(Edge(device, site, daemon, Path(config.storage.path)))
        for edge in started:
            edge.site.play()
        yield started
    finally:
        for edge in started:
            await asyncio.wait_for(edge.daemon.stop(), 60)
        for site in sites:
            await site.stop()
        for broker in brokers:
            broker.stop()


async def until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check`` off the loop (it reads databases) until it holds; bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def count(engine: Engine, table: str, device: str) -> int:
    data = DATA_TABLES[table]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(data).where(data.c.device_id == device)).scalar_one()


def chunks_since(engine: Engine, ts: float, table: str | None = None) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(chunks).where(chunks.c.received_ts >= ts)
        if table:
            q = q.where(chunks.c.tbl == table)
        return conn.execute(q).scalar_one()


def label_open_alarms(edges_: list[Edge], verdict: Verdict = Verdict.CONFIRMED) -> int:
    """A supervisor acknowledges the open alarms with a verdict (transitions and verdict rows)."""
    labelled = 0
    for edge in edges_:
        for alarm in edge.daemon.alarms.active()[:4]:
            try:
                edge.daemon.alarms.acknowledge(alarm.alarm_id, SUPERVISOR, note="e2e outage", verdict=verdict)
                labelled += 1
            except Exception:  # noqa: BLE001 - an alarm that cannot take a verdict now is not the point here
                continue
    return labelled


async def catch_up_then_stop(engine: Engine, edges_: list[Edge]) -> dict[str, dict[str, int]]:
    """Wait until every device's cloud data reaches what its edge holds, then stop the daemons (marks committed).

    Returns each device's edge max ids at the moment it was seen caught up."""
    seen: dict[str, dict[str, int]] = {}
    for edge in edges_:
        def check(e: Edge = edge) -> bool:
            snapshot = edge_max_ids(e.db)
            if caught_up(engine, e.device, e.db):
                seen[e.device] = snapshot
                return True
            return False

        try:
            await until(check, CATCH_UP_S, f"{edge.device} caught up with the cloud")
        except AssertionError as exc:
            state = edge.daemon.sync.report() if edge.daemon.sync else {}
            raise AssertionError(f"{exc}: edge {edge_max_ids(edge.db)}, cloud {cloud_max_ids(engine, edge.device)}, "
                                 f"sync {state}") from None
    for edge in edges_:
        await asyncio.wait_for(edge.daemon.stop(), 60)
    return seen


def assert_all_arrived(engine: Engine, edges_: list[Edge], seen: dict[str, dict[str, int]]) -> None:
    for edge in edges_:
        report = assert_exactly_once(engine, edge.device, edge.db)
        marks = edge_marks(edge.db)
        for table, top in seen[edge.device].items():
            if table != "alarms":
                assert marks.get(table, 0) >= top, f"{edge.device}/{table}: mark {marks.get(table)} < {top}"
        assert report["readings"].cloud_rows > 500, report
        assert report["alarms"].cloud_rows > 3 and report["transitions"].cloud_rows > 3, report


@pytest.fixture
def sqlite_cloud(tmp_path: Path) -> Iterator[tuple[CloudServer, Engine, dict[str, Path]]]:
    cloud_dir = tmp_path / "cloud"
    cloud_dir.mkdir()
    db = str(cloud_dir / "cloud.db")
    creds = credentials(tmp_path, db, cloud_dir)
    server = CloudServer(db, cloud_dir)
    server.start()
    engine = open_engine(db)
    try:
        yield server, engine, creds
    finally:
        server.kill()
        engine.dispose()


async def test_cloud_outage_every_row_once_and_events_durable_first(
    tmp_path: Path, sqlite_cloud: tuple[CloudServer, Engine, dict[str, Path]]
) -> None:
    cloud, engine, creds = sqlite_cloud
    urls = dict.fromkeys(DEVICES, cloud.url)
    async with edges(tmp_path, urls, creds) as sites:
        for edge in sites:
            await until(lambda e=edge: count(engine, "alarms", e.device) > 0 and count(engine, "readings", e.device),
                        40, f"{edge.device}'s first alarms and readings in the cloud")
        cloud.terminate()  # the uplink goes away (a clean stop) while the sites go on
        await asyncio.sleep(OUTAGE_S / 2)
        assert label_open_alarms(sites) > 0, "supervisors labelled alarms during the outage"
        await asyncio.sleep(OUTAGE_S / 2)
        for edge in sites:
            assert edge.daemon.sync is not None and edge.daemon.readiness()["sync"]["degraded"]
        back = time.time()
        cloud.start()
        seen = await catch_up_then_stop(engine, sites)
        assert_all_arrived(engine, sites, seen)
        for edge in sites:
            assert count(engine, "verdicts", edge.device) > 0
            assert_events_before_readings(engine, edge.device, edge.db, back)


async def test_sigkill_of_cloud_mid_ingest_and_of_sync_agent_mid_upload_still_exactly_once(
    tmp_path: Path, sqlite_cloud: tuple[CloudServer, Engine, dict[str, Path]]
) -> None:
    cloud, engine, creds = sqlite_cloud
    urls = dict.fromkeys(DEVICES, cloud.url)
    # small batches and a capped bulk lane: the backlog drains over several seconds of requests
    async with edges(tmp_path, urls, creds, max_rows=200,
                     lanes={"bulk": {"bandwidth_bytes_per_s": 20_000}}) as sites:
        for edge in sites:
            await until(lambda e=edge: count(engine, "readings", e.device) > 0, 40, f"{edge.device} syncing")
        cloud.kill()
        await asyncio.sleep(OUTAGE_S / 2)
        label_open_alarms(sites)
        back = time.time()
        cloud.start()
        await until(lambda: chunks_since(engine, back, "readings") >= 2, 30, "the backlog's readings arriving")
        cloud.kill()  # mid-ingest of the backlog
        await asyncio.sleep(1.0)
        again = time.time()
        cloud.start()
        await until(lambda: chunks_since(engine, again, "readings") >= 1, 30, "the drain resuming")
        killed = {}
        for edge in sites:  # mid-upload: the agents are still draining a capped backlog
            sync = edge.daemon.sync
            assert sync is not None and sync.pid is not None
            killed[edge.device] = sync.pid
            os.kill(sync.pid, signal.SIGKILL)
        for edge in sites:
            sync = edge.daemon.sync
            assert sync is not None
            await until(lambda s=sync, d=edge.device: s.alive and s.pid != killed[d], 30,
                        f"{edge.device}'s agent restarted")
        seen = await catch_up_then_stop(engine, sites)
        assert_all_arrived(engine, sites, seen)
        for edge in sites:
            assert edge.daemon.sync is not None and edge.daemon.sync.restarts >= 1


@pytest.fixture
def postgres_cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not TEMPLATE:
        pytest.skip("tests/cloud/conftest.py (the postgres_url fixture) is not there")
    import psycopg

    admin = request.getfixturevalue("postgres_url")
    name = "e2e_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = admin.rsplit("/", 1)[0] + "/" + name
    cloud_dir = tmp_path / "cloud"
    cloud_dir.mkdir()
    try:
        yield url, cloud_dir
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_two_replicas_on_postgresql_exactly_once(tmp_path: Path, postgres_cloud: tuple[str, Path]) -> None:
    db, cloud_dir = postgres_cloud
    creds = credentials(tmp_path, db, cloud_dir)
    replicas = [CloudServer(db, cloud_dir, name=f"replica-{i}") for i in (1, 2)]
    proxy = RoundRobinProxy([r.port for r in replicas])
    engine = open_engine(db)
    try:
        for replica in replicas:
            replica.start()
        await proxy.start()
        # edge-a reaches both replicas in turn (a new connection goes to the next); edge-b only replica 2
        urls = {"edge-a": proxy.url, "edge-b": replicas[1].url}
        async with edges(tmp_path, urls, creds, max_rows=200) as sites:
            for edge in sites:
                await until(lambda e=edge: count(engine, "readings", e.device) > 0, 40, f"{edge.device} syncing")
            for down, up in ((replicas[0], replicas[1]), (replicas[1], replicas[0])):
                down.kill()  # edge-a goes on through the other replica
                await asyncio.sleep(OUTAGE_S / 4)
                label_open_alarms(sites)
                mark = time.time()
                await until(lambda: chunks_since(engine, mark) >= 1, 30, f"ingest through {up.name}")
                down.start()
                await asyncio.sleep(OUTAGE_S / 4)
            seen = await catch_up_then_stop(engine, sites)
            assert_all_arrived(engine, sites, seen)
        assert all(n > 0 for n in proxy.connections.values()), f"both replicas served edge-a: {proxy.connections}"
    finally:
        await proxy.stop()
        for replica in replicas:
            replica.kill()
        engine.dispose()

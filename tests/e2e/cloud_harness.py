"""The cloud side of the end-to-end sync tests: ``siteguard cloud serve`` as a real child process on a fixed
loopback port (so a restart keeps the URL the edge was given), devices registered through the cloud's command
line, a round-robin TCP proxy over replicas, and the row-by-row comparison of edge databases with the cloud's."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Engine, select
from sqlalchemy.types import JSON

from cloud_sync.contract.tables import TABLES
from cloud_sync.db.engine import make_engine
from cloud_sync.db.schema import DATA_TABLES, chunks, quarantine
from edge_runtime.local_broker import free_port
from edge_runtime.sync.reader import SOURCES

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 40.0
STOP_TIMEOUT_S = 10.0
PROFILE = {"cpu_arch": "x86_64", "accelerator": "none", "memory_mb": 4096, "runtimes": {}}
EVENT_TABLES = ("alarms", "transitions", "verdicts")


def cloud_command(db: str, data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "edge_runtime", "cloud", *args, "--db", db, "--data-dir", str(data_dir)]


def register_device(db: str, data_dir: Path, device_id: str, site: str, credential_file: Path) -> None:
    """``siteguard cloud device register``: the credential (shown once) goes to a mode-600 file."""
    done = subprocess.run(
        cloud_command(db, data_dir, "device", "register", device_id, "--site", site, "--name", f"{device_id} node",
                      "--type", "demo-edge", "--profile", json.dumps(PROFILE),
                      "--credential-file", str(credential_file)),
        cwd=REPO, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"device register {device_id} failed: {done.stderr.decode(errors='replace')}")


class CloudServer:
    """One replica of ``siteguard cloud serve`` on a fixed port; ``terminate``/``kill`` and ``start`` again."""

    def __init__(self, db: str, data_dir: Path, name: str = "cloud", port: int | None = None) -> None:
        self.db, self.data_dir, self.name = db, data_dir, name
        self.port = port or free_port()
        self.log_path = data_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cloud_command(self.db, self.data_dir, "serve", "--host", "127.0.0.1",
                                                       "--port", str(self.port)),
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT_S:.0f} s:\n{self.log()}")

    def terminate(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it lingers."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


class RoundRobinProxy:
    """A loopback TCP proxy handing each new connection to the next replica (skipping ones that refuse)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = 0
        self.connections: dict[int, int] = dict.fromkeys(ports, 0)
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            for _ in self.ports:
                port = self.ports[self._next % len(self.ports)]
                self._next += 1
                try:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    continue
                self.connections[port] += 1
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
                return
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


# ----------------------------------------------------------------------------- comparison

@dataclass
class TableCheck:
    table: str
    edge_rows: int
    cloud_rows: int


def _normal(kind: Any, value: Any) -> Any:
    if isinstance(kind, JSON) and isinstance(value, str):
        return json.loads(value)
    if isinstance(kind, Boolean) and value is not None:
        return int(bool(value))
    if isinstance(value, bool):
        return int(value)
    return value


def edge_rows(db_path: Path, table: str) -> dict[int, dict[str, Any]]:
    """The edge table's rows as the sync agent sends them (its reader's conversion), by edge id."""
    source = SOURCES[table]
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        names = ", ".join(f'"{c}"' for c in ("id", *source.columns))
        rows = [dict(r) for r in db.execute(f"SELECT {names} FROM {table} ORDER BY id")]
    finally:
        db.close()
    data = DATA_TABLES[table]
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        record = source.convert(row)
        if record is None:
            continue
        out[row["id"]] = {c: _normal(data.c[c].type, record[c]) for c in TABLES[table].columns}
    return out


def edge_marks(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {t: m for t, m in db.execute("SELECT tbl, synced_id FROM outbox")}
    finally:
        db.close()


def edge_max_ids(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        db.close()


def cloud_rows(engine: Engine, table: str, device: str) -> list[dict[str, Any]]:
    data = DATA_TABLES[table]
    cols = [data.c.edge_id, *(data.c[c] for c in TABLES[table].columns)]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(data.c.device_id == device).order_by(data.c.edge_id)).all()
    return [{"edge_id": r[0], **{c: _normal(data.c[c].type, v) for c, v in zip(TABLES[table].columns, r[1:])}}
            for r in rows]


def cloud_max_ids(engine: Engine, device: str) -> dict[str, int]:
    out = {}
    with engine.connect() as conn:
        for table, data in DATA_TABLES.items():
            from sqlalchemy import func
            out[table] = conn.execute(select(func.coalesce(func.max(data.c.edge_id), 0))
                                      .where(data.c.device_id == device)).scalar_one()
    return out


def caught_up(engine: Engine, device: str, edge_db: Path, tables: Iterable[str] = TABLES) -> bool:
    """Every row the edge holds now (alarms: their latest state) is in the cloud."""
    edge, cloud = edge_max_ids(edge_db), cloud_max_ids(engine, device)
    return all(cloud[t] >= edge[t] for t in tables)


def assert_exactly_once(engine: Engine, device: str, edge_db: Path) -> dict[str, TableCheck]:
    """Every synced table: the cloud holds each edge row once, with the edge's values, and nothing else.

    Rows with edge ids up to the edge's committed mark must all be there; rows past the mark may be too (durable,
    but the receipt's mark was not committed yet) and then must be equal too. An alarm is one row per alarm id in
    both places, carrying its newest edge id; the cloud may hold an older state only past the mark.
    """
    marks = edge_marks(edge_db)
    with engine.connect() as conn:
        refused = conn.execute(select(quarantine.c.tbl, quarantine.c.reason)
                               .where(quarantine.c.device_id == device)).all()
    assert not refused, f"{device}: the cloud quarantined {refused}"
    report: dict[str, TableCheck] = {}
    for table in TABLES:
        edge = edge_rows(edge_db, table)
        cloud = cloud_rows(engine, table, device)
        ids = [r["edge_id"] for r in cloud]
        assert len(ids) == len(set(ids)), f"{device}/{table}: an edge id stored twice"
        mark = marks.get(table, 0)
        by_id = {r.pop("edge_id"): r for r in cloud}
        if table == "alarms":
            keyed = {r["alarm_id"]: (i, r) for i, r in by_id.items()}
            assert len(keyed) == len(by_id), f"{device}: an alarm stored twice"
            for edge_id, row in edge.items():
                got = keyed.get(row["alarm_id"])
                if edge_id <= mark:
                    assert got is not None, f"{device}: alarm {row['alarm_id']} (edge id {edge_id}) missing"
                if got is not None and got[0] == edge_id:
                    assert got[1] == row, f"{device}: alarm {row['alarm_id']} differs:\n{got[1]}\n{row}"
                elif got is not None:
                    assert got[0] < edge_id and edge_id > mark, \
                        f"{device}: alarm {row['alarm_id']} cloud edge id {got[0]}, edge {edge_id}, mark {mark}"
            stray = set(keyed) - {r["alarm_id"] for r in edge.values()}
            assert not stray, f"{device}: alarms in the cloud the edge never had: {stray}"
        else:
            missing = [i for i in edge if i <= mark and i not in by_id]
            assert not missing, f"{device}/{table}: {len(missing)} rows missing, first {missing[:5]} (mark {mark})"
            stray = [i for i in by_id if i not in edge]
            assert not stray, f"{device}/{table}: {len(stray)} cloud rows the edge does not have: {stray[:5]}"
            for edge_id, row in by_id.items():
                assert row == edge[edge_id], f"{device}/{table} edge id {edge_id} differs:\n{row}\n{edge[edge_id]}"
        report[table] = TableCheck(table, len(edge), len(by_id))
    return report


def assert_events_before_readings(engine: Engine, device: str, edge_db: Path, back_ts: float) -> None:
    """The backlog drained events first: every alarm, transition and verdict the edge had recorded when the cloud
    came back (at ``back_ts``) was durable no later than the first readings chunk received after it."""
    with engine.connect() as conn:
        ledger = conn.execute(select(chunks.c.tbl, chunks.c.first_id, chunks.c.last_id, chunks.c.received_ts)
                              .where(chunks.c.device_id == device).order_by(chunks.c.received_ts)).all()
    first_readings = min((c.received_ts for c in ledger if c.tbl == "readings" and c.received_ts >= back_ts),
                         default=None)
    assert first_readings is not None, f"{device}: no readings chunk after the cloud came back"
    db = sqlite3.connect(f"file:{edge_db}?mode=ro", uri=True)
    try:
        for table in EVENT_TABLES:
            column = "updated_ts" if table == "alarms" else "ts"
            backlog = [r[0] for r in db.execute(f"SELECT id FROM {table} WHERE {column} < ?", (back_ts,))]
            for edge_id in backlog:
                when = [c.received_ts for c in ledger if c.tbl == table and c.first_id <= edge_id <= c.last_id]
                if table == "alarms" and not when:
                    continue  # replaced by a newer state before it was sent: the newer row went instead
                assert when, f"{device}/{table} edge id {edge_id} in no chunk"
                assert min(when) <= first_readings, (
                    f"{device}/{table} edge id {edge_id} durable at {min(when):.3f}, after the first readings "
                    f"chunk at {first_readings:.3f}")
    finally:
        db.close()


def open_engine(db: str) -> Engine:
    return make_engine(db if "://" in db else f"sqlite:///{Path(db).resolve()}")

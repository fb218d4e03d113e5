"""Edge -> cloud sync on the real parts: a backlog of an hour of a site's readings, drained by the sync agent into
``siteguard cloud serve`` (a child process on loopback), on SQLite and on a throw-away PostgreSQL cluster, plus
the panic alarm's latency on a daemon while its agent catches up, against the same daemon idle.

The edge database is the real store schema (``migrate_file``) filled as the store would: for
``SYNC_BENCH_WORKERS`` workers (200) and ``SYNC_BENCH_MINUTES`` minutes (60), HR, GPS and one gas channel at 1 Hz
each per worker, in time order, with the extras the codecs write; and alarms, their transitions and verdicts
spread over the hour. The agent (the daemon's SyncSupervisor, over a real store process) starts with the whole
backlog waiting. Reported:

* ``bytes_per_reading_vs_json``: request-body bytes per reading (the cloud's chunk ledger) / the same reading as
  compact JSON (the contract's ReadingRecord fields, ``extra`` as an object); target <= 1/20;
* ``alarms_durable_s``: from the agent's start (process spawn included) until every alarm, transition and verdict
  of the backlog is durable (the edge's mark moved on the cloud's receipt); target <= 5 s;
* ``readings_per_s_sqlite`` / ``readings_per_s_postgresql``: readings / (agent start -> last reading durable);
  target >= 200,000/s;
* ``alarm_p99_catchup_vs_idle``: panic press -> alert p99 on a 200-worker daemon (bench/support/panic_site.py's
  probes and background telemetry) while its agent drains the hour's backlog, / the same daemon once caught up;
  the cloud of this phase runs at nice ``SYNC_BENCH_CLOUD_NICE`` (19).

``SYNC_BENCH_PHASES`` (``sqlite,postgresql,catchup``) picks the phases to run, for a quicker look while working.

Progress on stderr, ONE JSON object on the last stdout line; every process is stopped on the way out.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud_sync.db.engine import make_engine  # noqa: E402
from cloud_sync.db.schema import chunks  # noqa: E402
from cloud_sync.registry.devices import DeviceIn, DeviceRegistry  # noqa: E402
from cloud_sync.service.launch import CloudProcess, prepare  # noqa: E402
from cloud_sync.service.settings import ServiceSettings  # noqa: E402
from edge_runtime.config.devices import StorageSettings  # noqa: E402
from edge_runtime.config.sync import SyncSettings  # noqa: E402
from edge_runtime.store import Store  # noqa: E402
from edge_runtime.store.migrations import migrate_file  # noqa: E402
from edge_runtime.store.rows import ALARM_SQL, TRANSITION_SQL, VERDICT_SQL  # noqa: E402
from edge_runtime.sync.process import AgentSpec  # noqa: E402
from edge_runtime.sync.supervisor import SyncSupervisor  # noqa: E402

WORKERS = int(os.environ.get("SYNC_BENCH_WORKERS", "200"))
MINUTES = int(os.environ.get("SYNC_BENCH_MINUTES", "60"))
DEVICE = "bench-edge"
SITE = "bench"
PROFILE = {"cpu_arch": "x86_64", "accelerator": "none", "memory_mb": 16384, "runtimes": {}}
TARGETS = {"bytes_per_reading_vs_json": 1 / 20, "alarms_durable_s": 5.0, "readings_per_s_sqlite": 200_000,
           "readings_per_s_postgresql": 200_000, "alarm_p99_catchup_vs_idle": None}
DRAIN_TIMEOUT_S = float(os.environ.get("SYNC_BENCH_DRAIN_TIMEOUT_S", "300"))
PHASES = set(os.environ.get("SYNC_BENCH_PHASES", "sqlite,postgresql,catchup").split(","))
# The catch-up phase's cloud shares this machine's cores with the daemon; on a site it is another machine, and the
# figure is about the edge's own agent, so the cloud runs at the lowest priority (0: as any process, the old way).
CLOUD_NICE = int(os.environ.get("SYNC_BENCH_CLOUD_NICE", "19"))
EVENT_TABLES = ("alarms", "transitions", "verdicts")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ALARM_KINDS = [  # (kind, condition, priority, subject kind) as the engine raises them
    ("gas_high", "gas:H2S", "high", "worker"), ("gas_low", "gas:CO", "medium", "worker"),
    ("panic", "panic", "critical", "worker"), ("man_down", "man_down", "critical", "worker"),
    ("hr_high", "hr", "medium", "worker"), ("no_position", "position", "low", "worker"),
    ("link_lost", "link", "low", "device"), ("geofence", "geofence:elec-room", "medium", "worker"),
]


def say(message: str) -> None:
    print(f"[sync bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- the edge backlog

def fill(path: Path, workers: int, minutes: int, t0: float) -> dict[str, Any]:
    """The edge database with ``minutes`` of a ``workers`` site's readings and its alarms; counts and JSON bytes."""
    migrate_file(path)
    rng = random.Random(7)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    seconds = minutes * 60
    hr = [70.0 + rng.randint(-8, 8) for _ in range(workers)]
    lat = [51.8875 + rng.uniform(-0.002, 0.002) for _ in range(workers)]
    lon = [4.3159 + rng.uniform(-0.003, 0.003) for _ in range(workers)]
    gas = [0.0] * workers
    json_bytes = 0
    sample_every = 97  # the JSON baseline measured on a sample of rows (exact enough, much faster)
    sampled = 0
    n = 0
    rows: list[tuple[Any, ...]] = []
    for s in range(seconds):
        base = t0 + s
        for w in range(workers):
            jitter = (w * 37 % 1000) / 1000.0
            if rng.random() < 0.2:
                hr[w] = min(180.0, max(45.0, hr[w] + rng.choice((-1.0, 1.0))))
            lat[w] += rng.gauss(0, 2e-6)
            lon[w] += rng.gauss(0, 3e-6)
            if rng.random() < 0.01:
                gas[w] = max(0.0, round(gas[w] + rng.choice((-1.0, 1.0, 0.5)), 1))
            ts = base + jitter
            clock = time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(jitter * 1000):03d}"
            rr = round(60.0 / hr[w], 4)
            rows.append((f"wb{w:03d}", "hr", ts + 0.004, hr[w], None, None,
                         json.dumps({"contact": "detected", "rr_s": [rr], "extra": {"device_ts": round(ts, 3)}},
                                    separators=(",", ":"))))
            rows.append((f"gps{w:03d}", "gps", ts + 0.011, round(lat[w], 7), round(lon[w], 7), 0.9,
                         json.dumps({"talker": "GP", "sentence": "GGA", "fix_valid": True, "fix_quality": 1,
                                     "alt": 2.0, "time": clock, "satellites": 9}, separators=(",", ":"))))
            rows.append((f"pd{w:03d}", "gas:H2S", ts + 0.017, gas[w], 100.0, None, '{"unit":"ppm"}'))
        if len(rows) >= 200_000 or s == seconds - 1:
            for i in range(0, len(rows), sample_every):
                device, kind, ts_, v1, v2, v3, extra = rows[i]
                json_bytes += len(json.dumps({"device": device, "kind": kind, "ts": ts_, "v1": v1, "v2": v2,
                                              "v3": v3, "extra": json.loads(extra)}, separators=(",", ":")))
                sampled += 1
            db.executemany("INSERT INTO readings (device, kind, ts, v1, v2, v3, extra) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           rows)
            n += len(rows)
            rows = []
            db.commit()
    events = _events(db, rng, workers, t0, seconds)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"readings": n, "json_bytes_per_reading": json_bytes / max(1, sampled), **events}


def _events(db: sqlite3.Connection, rng: random.Random, workers: int, t0: float, seconds: int) -> dict[str, int]:
    """About one alarm per worker per ten minutes: raised, acknowledged (half with a verdict), cleared."""
    from edge_runtime.store.rows import ALARM_COLUMNS

    n_alarms = max(10, workers * seconds // 600)
    alarms, transitions, verdicts = [], [], []
    for i in range(n_alarms):
        kind, condition, priority, subject_kind = ALARM_KINDS[i % len(ALARM_KINDS)]
        w = rng.randrange(workers)
        subject = f"worker:w{w:03d}" if subject_kind == "worker" else f"device:wb{w:03d}"
        raised = t0 + rng.uniform(0, seconds - 120)
        acked, cleared = raised + rng.uniform(5, 60), raised + rng.uniform(60, 120)
        alarm_id = f"01bench{i:09d}"
        verdict = "confirmed" if i % 2 == 0 else None
        record = {"alarm_id": alarm_id, "subject": subject, "condition": condition, "kind": kind,
                  "priority": priority, "state": "normal", "message": f"{kind} for {subject} (bench)",
                  "raised_ts": raised, "updated_ts": cleared, "latching": 1, "condition_active": 0,
                  "value": 21.5 if kind.startswith("gas") else None, "threshold": 20.0 if kind.startswith("gas") else None,
                  "zone": "tank-2", "workers": json.dumps([f"w{w:03d}"]), "sirens": "[]",
                  "acked_by": "supervisor", "acked_via": "dashboard", "acked_ts": acked, "verdict": verdict,
                  "shelved_by": None, "shelved_via": None, "shelved_until": None, "shelve_reason": None,
                  "flood_group": None, "muted_until": None, "last_announced_ts": cleared}
        alarms.append(tuple(record[c] for c in ALARM_COLUMNS))
        transitions.append((alarm_id, raised, "raised", "normal", "active_unacknowledged", None, None,
                            '{"announce":true}', "system"))
        if verdict:
            transitions.append((alarm_id, acked, "verdict", "active_unacknowledged", "active_unacknowledged",
                                "supervisor", "bench", None, "dashboard"))
            verdicts.append((alarm_id, verdict, "supervisor", "bench", acked, kind, subject, "dashboard"))
        transitions.append((alarm_id, acked, "acknowledged", "active_unacknowledged", "active_acknowledged",
                            "supervisor", "bench", None, "dashboard"))
        transitions.append((alarm_id, cleared, "cleared", "active_acknowledged", "normal", None, None, None,
                            "system"))
    db.executemany(ALARM_SQL, alarms)
    db.executemany(TRANSITION_SQL, transitions)
    db.executemany(VERDICT_SQL, verdicts)
    return {"alarms": len(alarms), "transitions": len(transitions), "verdicts": len(verdicts)}


def max_ids(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0]
                for t in (*EVENT_TABLES, "readings")}
    finally:
        db.close()


def marks(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT tbl, synced_id FROM outbox").fetchall())
    finally:
        db.close()


# ----------------------------------------------------------------------------- the cloud

def register(settings: ServiceSettings, device: str, credential_file: Path) -> None:
    engine = prepare(settings)
    try:
        _, issued = DeviceRegistry(engine).register(DeviceIn(id=device, site=SITE, name=f"{device} node",
                                                             device_type="demo-edge", profile=PROFILE))
    finally:
        engine.dispose()
    credential_file.write_text(issued.credential + "\n")
    credential_file.chmod(0o600)


def sync_settings(url: str, credential_file: Path) -> SyncSettings:
    return SyncSettings.model_validate({
        "enabled": True, "url": url, "credential_file": str(credential_file), "poll_s": 0.05,
        "retry_initial_s": 0.1, "retry_max_s": 0.5, "open_s": 1.0, "heartbeat_interval_s": 5.0,
        "lanes": {"snapshots": {"schedule": []}},
    })


async def _drain(edge_db: Path, settings: SyncSettings, top: dict[str, int]) -> dict[str, float | None]:
    store = Store(StorageSettings(path=edge_db, max_bytes=64 * 2**30))
    await asyncio.to_thread(store.open)
    supervisor = SyncSupervisor(AgentSpec(settings, DEVICE, "UTC", edge_db, 64 * 2**30))
    out: dict[str, float | None] = {"alarms_durable_s": None, "readings_durable_s": None}
    try:
        started = time.perf_counter()
        await supervisor.start(store.producer_address)
        last_report = 0.0
        while time.perf_counter() - started < DRAIN_TIMEOUT_S:
            got = await asyncio.to_thread(marks, edge_db)
            now = time.perf_counter() - started
            if out["alarms_durable_s"] is None and all(got.get(t, 0) >= top[t] for t in EVENT_TABLES):
                out["alarms_durable_s"] = now
                say(f"  alarms, transitions and verdicts durable after {now:.2f} s")
            if got.get("readings", 0) >= top["readings"]:
                out["readings_durable_s"] = now
                break
            if now - last_report > 5:
                last_report = now
                say(f"  {now:.0f} s: readings mark {got.get('readings', 0):,} of {top['readings']:,}")
            await asyncio.sleep(0.02)
    finally:
        await supervisor.stop()
        await asyncio.to_thread(store.close)
    return out


def run_sync(backlog: Path, db_url: str, work: Path, name: str, readings: int) -> dict[str, Any]:
    """Drain a copy of ``backlog`` into a fresh cloud on ``db_url``; timings and the wire bytes per reading."""
    work.mkdir(parents=True, exist_ok=True)
    edge_db = work / "edge.db"
    shutil.copy(backlog, edge_db)
    settings = ServiceSettings(db_url=db_url, data_dir=work / "cloud", port=free_port())
    credential = work / "device.credential"
    register(settings, DEVICE, credential)
    top = max_ids(edge_db)
    with CloudProcess(settings, log_path=work / "cloud.log") as url:
        say(f"{name}: cloud at {url}; draining {readings:,} readings")
        timing = asyncio.run(_drain(edge_db, sync_settings(url, credential), top))
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows_bytes = conn.execute(
                chunks.select().with_only_columns(chunks.c.rows, chunks.c.bytes).where(chunks.c.tbl == "readings")
            ).all()
    finally:
        engine.dispose()
    wire = sum(b for _, b in rows_bytes)
    rows = sum(r for r, _ in rows_bytes)
    done = timing["readings_durable_s"]
    return {"alarms_durable_s": timing["alarms_durable_s"], "readings_durable_s": done,
            "readings_per_s": round(readings / done) if done else None,
            "wire_bytes_per_reading": wire / rows if rows else None, "chunks": len(rows_bytes),
            "error": None if done else f"not drained within {DRAIN_TIMEOUT_S:.0f} s (see {work / 'cloud.log'})"}


# ----------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """A throw-away cluster: initdb + pg_ctl as the postgres user (PostgreSQL refuses root), stopped on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.bin = PG_BIN if (PG_BIN / "initdb").exists() else (
            Path(shutil.which("initdb")).parent if shutil.which("initdb") else None)
        self.as_user: list[str] = []

    def start(self) -> str:
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        done = subprocess.run([*self.as_user, str(self.bin / "initdb"), "-A", "trust", "-U", "postgres", "-E",
                               "UTF8", "-D", str(self.root / "data")], capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.decode(errors='replace')[-500:]}")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                   "-c shared_buffers=512MB -c max_wal_size=4GB -c synchronous_commit=off")
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l",
                        str(self.root / "log"), "-o", options, "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=90)
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cloud")
        return f"postgresql://postgres@127.0.0.1:{self.port}/cloud"

    def stop(self) -> None:
        if self.bin is not None and (self.root / "data").exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


# ----------------------------------------------------------------------------- the alarm path while catching up

def lower_priority(pid: int | None, nice: int) -> None:
    """Renice every thread of ``pid`` (Linux keeps a nice value per thread; threads started later inherit it)."""
    if pid is None or not nice:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def alarm_catchup(backlog: Path, work: Path) -> dict[str, Any]:
    """Panic p99 on a 200-worker daemon whose agent drains ``backlog`` (the cloud started once the daemon answers
    probes), then on the same daemon with its agent caught up (idle)."""
    from bench.support.mqtt_load import TelemetryLoad
    from bench.support.panic_probe import PanicProbes, Prober
    from bench.support.panic_site import PROBE_PAIRS, WEARABLES, _ready, _site
    from bench.support.process import terminate
    from bench.support.stats import summary
    from edge_runtime.local_broker import LocalBroker

    work.mkdir(parents=True, exist_ok=True)
    (work / "mosquitto").mkdir()
    edge_db = work / "bench.db"
    shutil.copy(backlog, edge_db)
    top = max_ids(edge_db)
    settings = ServiceSettings(db_url=f"sqlite:///{work / 'cloud.db'}", data_dir=work / "cloud", port=free_port())
    credential = work / "device.credential"
    register(settings, DEVICE, credential)
    with ExitStack() as stack:
        broker = LocalBroker(workdir=work / "mosquitto").start()
        stack.callback(broker.stop)
        site = _site(broker.port, work, {"max_bytes": 64 * 2**30})
        site["device_id"] = DEVICE
        site["sync"] = sync_settings(f"http://127.0.0.1:{settings.port}", credential).model_dump(mode="json")
        (work / "site.yaml").write_text(yaml.safe_dump(site))
        with (work / "daemon.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(work / "site.yaml")],
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(terminate, proc)
        prober = Prober(broker.port, "bench", client_id="bench-prober-sync")
        stack.callback(prober.close)
        probes = PanicProbes(prober, PROBE_PAIRS, reset=True)
        if not _ready(probes, 90.0):
            return {"error": "the daemon never answered a probe",
                    "log_tail": (work / "daemon.log").read_text(errors="replace")[-1500:]}
        load = TelemetryLoad(broker.port, "bench", [f"wb{i:03d}" for i in range(WEARABLES)], 200.0)
        stack.callback(load.stop)
        load.start()
        time.sleep(3.0)
        cloud = CloudProcess(settings, log_path=work / "cloud.log")
        cloud.__enter__()
        stack.callback(cloud.stop)
        lower_priority(cloud.pid, CLOUD_NICE)
        say("catch-up: cloud up, probing while the agent drains")
        t0 = time.perf_counter()
        i = 0
        caught_up_s = None
        while time.perf_counter() - t0 < DRAIN_TIMEOUT_S:
            probes.probe(i)
            i += 1
            if i % 10 == 0 and marks(edge_db).get("readings", 0) >= top["readings"]:
                caught_up_s = time.perf_counter() - t0
                break
            time.sleep(0.02)
        catchup = summary(probes.latencies, len(probes.latencies) + probes.missed)
        n = max(len(probes.latencies), 100)
        probes.latencies.clear()
        probes.missed = 0
        say(f"idle: caught up after {caught_up_s}; {n} probes with the agent idle")
        time.sleep(2.0)
        for j in range(n):
            probes.probe(i + j)
            time.sleep(0.02)
        idle = summary(probes.latencies, len(probes.latencies) + probes.missed)
        load.stop()
    ratio = (catchup["p99_ms"] / idle["p99_ms"]) if catchup.get("p99_ms") and idle.get("p99_ms") else None
    return {"catchup": catchup, "idle": idle, "caught_up_s": caught_up_s, "ratio": ratio, "cloud_nice": CLOUD_NICE}


# ----------------------------------------------------------------------------- main

def _met(name: str, value: float | None) -> bool | None:
    target = TARGETS[name]
    if value is None or target is None:
        return None
    return value <= target if name in ("bytes_per_reading_vs_json", "alarms_durable_s") else value >= target


def _sqlite_phase(backlog: Path, tmp: Path, counts: dict[str, Any], result: dict[str, Any],
                  reasons: dict[str, str]) -> None:
    sq = run_sync(backlog, f"sqlite:///{tmp / 'sqlite' / 'cloud.db'}", tmp / "sqlite", "sqlite", counts["readings"])
    result["sqlite"] = sq
    if sq["wire_bytes_per_reading"]:
        result["bytes_per_reading_vs_json"] = sq["wire_bytes_per_reading"] / counts["json_bytes_per_reading"]
    result["alarms_durable_s"] = sq["alarms_durable_s"]
    result["readings_per_s_sqlite"] = sq["readings_per_s"]
    if sq["error"]:
        reasons["readings_per_s_sqlite"] = sq["error"]


def _postgresql_phase(backlog: Path, tmp: Path, counts: dict[str, Any], result: dict[str, Any],
                      reasons: dict[str, str]) -> None:
    pg = Postgres(Path(tempfile.mkdtemp(prefix="siteguard-sync-bench-pg-")))  # its own: postgres must enter it
    try:
        url = pg.start()
        say(f"postgresql: cluster on port {pg.port}")
        p = run_sync(backlog, url, tmp / "postgresql", "postgresql", counts["readings"])
        result["postgresql"] = p
        result["readings_per_s_postgresql"] = p["readings_per_s"]
        if p["error"]:
            reasons["readings_per_s_postgresql"] = p["error"]
    finally:
        pg.stop()


def _catchup_phase(backlog: Path, tmp: Path, counts: dict[str, Any], result: dict[str, Any],
                   reasons: dict[str, str]) -> None:
    a = alarm_catchup(backlog, tmp / "catchup")
    result["alarm_path"] = a
    result["alarm_p99_catchup_vs_idle"] = a.get("ratio")
    if a.get("error") or a.get("ratio") is None:
        reasons["alarm_p99_catchup_vs_idle"] = a.get("error") or "no p99 from one of the phases"


PHASE_RUNS = {"sqlite": (_sqlite_phase, "sqlite"), "postgresql": (_postgresql_phase, "readings_per_s_postgresql"),
              "catchup": (_catchup_phase, "alarm_p99_catchup_vs_idle")}  # phase -> (run, what a failure voids)


def main() -> int:
    result: dict[str, Any] = {"bench": "sync", "workers": WORKERS, "minutes": MINUTES}
    reasons: dict[str, str] = {}
    tmp = Path(tempfile.mkdtemp(prefix="siteguard-sync-bench-"))
    try:
        backlog = tmp / "backlog.db"
        say(f"filling the edge database: {WORKERS} workers x {MINUTES} min, HR/GPS/gas at 1 Hz")
        t = time.perf_counter()
        counts = fill(backlog, WORKERS, MINUTES, time.time() - MINUTES * 60 - 5)
        say(f"  {counts['readings']:,} readings, {counts['alarms']} alarms, {counts['transitions']} transitions, "
            f"{counts['verdicts']} verdicts in {time.perf_counter() - t:.1f} s "
            f"({backlog.stat().st_size / 2**20:.0f} MiB)")
        result["backlog"] = counts
        for phase, (run, voids) in PHASE_RUNS.items():
            if phase not in PHASES:
                reasons[voids] = f"phase {phase} not run (SYNC_BENCH_PHASES)"
                continue
            try:
                run(backlog, tmp, counts, result, reasons)
            except Exception as exc:  # noqa: BLE001 - the bench always finishes, with the reason
                reasons[voids] = f"{type(exc).__name__}: {exc}"
                say(traceback.format_exc())
    except Exception as exc:  # noqa: BLE001
        reasons["bench"] = f"{type(exc).__name__}: {exc}"
        say(traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in TARGETS:
        result.setdefault(name, None)
    result["targets"] = {k: ({"max": v} if k in ("bytes_per_reading_vs_json", "alarms_durable_s") else
                             {"min": v} if v is not None else {"note": "reported; no fixed target"})
                         for k, v in TARGETS.items()}
    result["met"] = {k: _met(k, result[k]) for k in TARGETS}
    result["null_reasons"] = {k: v for k, v in reasons.items()}
    print(json.dumps(result, default=lambda o: round(o, 4) if isinstance(o, float) else str(o)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

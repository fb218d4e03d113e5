"""Edge store write benchmark.

1. Throughput: N mixed readings through ``Store.record_observation`` until
   ``flush()`` returns (encode + queue + batched executemany + commits), next to
   a bare ``executemany`` of the same rows, pre-encoded, on a plain sqlite3
   connection with the same table, pragmas and batch size; also sqlite-utils
   ``insert_all`` for the record. ``ratio`` = store / bare.
2. Sustained load: readings paced at ``--rate`` per second for ``--seconds``
   while an alarm transition is recorded every 50 ms; reports the priority
   commit latency (record_transition -> committed, measured by the writer and,
   independently, by polling a second connection) and whether the writer kept up.

Prints one JSON object on its last line.

    python bench/store_write.py [--rows 300000] [--rate 50000] [--seconds 5]
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlite_utils import Database  # noqa: E402

from edge_runtime.alarms.model import (  # noqa: E402
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
)
from edge_runtime.config.devices import StorageSettings  # noqa: E402
from edge_runtime.store import Store  # noqa: E402
from edge_runtime.store.connection import connect  # noqa: E402
from edge_runtime.store.rows import READING_SQL, reading_row  # noqa: E402
from firmware_bridge.readings import (  # noqa: E402
    Gas,
    GasSample,
    GpsFix,
    HeartRate,
    Motion,
    Observation,
)

READINGS_DDL = """CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,
    kind TEXT NOT NULL, ts REAL NOT NULL, v1 REAL, v2 REAL, v3 REAL, extra TEXT)"""


def observations(n: int, t0: float) -> list[Observation]:
    """A realistic mix: gas, heart rate and motion from wearables, GPS fixes."""
    readings = [
        GasSample(Gas.H2S, 1.5, "ppm", full_range=100.0),
        HeartRate(92),
        Motion(0.01, -0.02, 0.99),
        GpsFix("GN", "GGA", True, lat=51.5, lon=-0.12, fix_quality=1, hdop=0.9, satellites=11),
    ]
    return [Observation(f"w{i % 200:03d}", readings[i % 4], t0 + i * 1e-5) for i in range(n)]


def transition(i: int, ts: float) -> AlarmTransition:
    alarm = Alarm(
        alarm_id=f"bench-{i}",
        subject=Subject(SubjectKind.WORKER, f"w{i % 200:03d}"),
        condition="gas:H2S",
        kind=AlarmKind.GAS_HIGH,
        priority=Priority.HIGH,
        state=AlarmState.UNACK,
        message="H2S high",
        raised_ts=ts,
        updated_ts=ts,
    )
    return AlarmTransition(alarm, TransitionCause.RAISED, AlarmState.NORMAL, AlarmState.UNACK, ts)


def store_throughput(directory: Path, obs: list[Observation], settings: StorageSettings) -> dict:
    # The producer here is unpaced: let the queue hold everything so rows/s is the writer's.
    store = Store(settings.model_copy(update={"path": directory / "store.db", "max_queued_readings": len(obs)}))
    store.open()
    started = time.perf_counter()
    for o in obs:
        store.record_observation(o)
    enqueued = time.perf_counter()
    assert store.flush(60.0)
    elapsed = time.perf_counter() - started
    stats = store.stats
    store.close()
    assert stats.rows_written["readings"] == len(obs), stats
    return {
        "rows_s": len(obs) / elapsed,
        "record_observation_us": (enqueued - started) / len(obs) * 1e6,
        "batches": stats.batches,
        "write_ms_avg": stats.write_ms_avg,
        "write_ms_max": stats.write_ms_max,
    }


def bare_executemany(directory: Path, rows: list[tuple], batch: int) -> float:
    conn = connect(directory / "bare.db")  # same pragmas: WAL, synchronous=NORMAL
    conn.execute(READINGS_DDL)
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany(READING_SQL, rows[i : i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def insert_all(directory: Path, rows: list[tuple], batch: int) -> float:
    db = Database(connect(directory / "insert_all.db"), execute_plugins=False)
    db.execute(READINGS_DDL)
    columns = ("device", "kind", "ts", "v1", "v2", "v3", "extra")
    dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    started = time.perf_counter()
    db["readings"].insert_all(dicts, batch_size=batch)
    elapsed = time.perf_counter() - started
    db.close()
    return len(rows) / elapsed


def sustained(directory: Path, rate: int, seconds: float, settings: StorageSettings) -> dict:
    """Paced readings plus an alarm every 50 ms; latency seen from a second connection."""
    path = directory / "sustained.db"
    store = Store(settings.model_copy(update={"path": path}))
    store.open()
    visible_ms: list[float] = []
    pending: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def watch() -> None:  # an independent reader polling for the alarm rows
        probe = sqlite3.connect(path)
        while not stop.is_set() or pending:
            with lock:
                waiting = dict(pending)
            for alarm_id, t0 in waiting.items():
                if probe.execute("SELECT 1 FROM transitions WHERE alarm_id = ?", (alarm_id,)).fetchone():
                    visible_ms.append((time.perf_counter() - t0) * 1000)
                    with lock:
                        del pending[alarm_id]
            time.sleep(0.0005)
        probe.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    obs = observations(int(rate * seconds), time.time())
    tick = 0.002
    per_tick = max(1, int(rate * tick))
    started = time.perf_counter()
    max_depth = 0
    alarms = 0
    for i in range(0, len(obs), per_tick):
        for o in obs[i : i + per_tick]:
            store.record_observation(o)
        now = time.perf_counter()
        if now - started >= alarms * 0.05:
            t0 = time.perf_counter()
            with lock:
                pending[f"bench-{alarms}"] = t0
            store.record_transition(transition(alarms, time.time()))
            alarms += 1
        max_depth = max(max_depth, store.stats.queue_depth)
        delay = started + (i // per_tick + 1) * tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    produced_s = time.perf_counter() - started
    assert store.flush(30.0)
    stop.set()
    watcher.join(10)
    stats = store.stats
    store.close()
    return {
        "offered_rows_s": len(obs) / produced_s,
        "written_rows": stats.rows_written.get("readings", 0),
        "dropped": stats.dropped_overflow + stats.dropped_on_error,
        "max_queue_depth": max_depth,
        "alarms": alarms,
        "priority_commit_ms_avg": stats.priority_latency_ms_avg,
        "priority_commit_ms_max": stats.priority_latency_ms_max,
        "visible_ms_p50": statistics.median(visible_ms),
        "visible_ms_max": max(visible_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best of each is reported")
    args = parser.parse_args()
    settings = StorageSettings(max_bytes=4 * 1024**3)
    obs = observations(args.rows, time.time())
    rows = [reading_row(o) for o in obs]
    with tempfile.TemporaryDirectory() as tmp:
        rounds = []
        for i in range(args.repeat):  # interleaved, so a noisy neighbour hits both sides alike
            directory = Path(tmp) / str(i)
            directory.mkdir()
            bare = bare_executemany(directory, rows, settings.batch_size)
            rounds.append((store_throughput(directory, obs, settings), bare))
        best_store = max(rounds, key=lambda r: r[0]["rows_s"])[0]
        best_bare = max(bare for _, bare in rounds)
        result = {
            "bench": "store_write",
            "rows": args.rows,
            "batch_size": settings.batch_size,
            "store_rows_s": round(best_store["rows_s"]),
            "bare_executemany_rows_s": round(best_bare),
            "ratio": round(best_store["rows_s"] / best_bare, 3),
            "ratio_per_round": [round(store["rows_s"] / bare, 3) for store, bare in rounds],
            "insert_all_rows_s": round(insert_all(Path(tmp) / "0", rows, settings.batch_size)),
            "record_observation_us": round(best_store["record_observation_us"], 3),
            "store_write_ms_avg": round(best_store["write_ms_avg"], 2),
            "store_write_ms_max": round(best_store["write_ms_max"], 2),
            "sustained": {
                k: round(v, 2) if isinstance(v, float) else v
                for k, v in sustained(Path(tmp), args.rate, args.seconds, settings).items()
            },
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

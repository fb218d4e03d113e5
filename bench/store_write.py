"""Edge store write benchmark: the store process against a bare ``executemany``.

1. Throughput, three ways into the store process, each timed until ``flush()``
   returns (send + decode/encode there + batched executemany + commits):
   ``rows`` (readings rows built by the producer, as the telemetry ingest
   process sends them), ``chunks`` (raw gateway bytes via ``record_chunk``,
   decoded in the store process, as the daemon's serial readers send them),
   ``observations`` (``record_observation``, pickled Observations: the
   low-rate path). For each: rows/s, the caller's time per reading and the
   producer process's CPU per reading (all its threads: what the alarm
   process pays). Next to it a bare ``executemany`` of the same rows,
   pre-encoded, on a plain sqlite3 connection with the same table, pragmas
   and batch size, and sqlite-utils ``insert_all`` for the record.
   ``ratio`` = store (rows) / bare.
2. Sustained load: gateway chunks paced at ``--rate`` readings per second for
   ``--seconds`` while an alarm transition is recorded every 50 ms; reports
   the priority commit latency (record_transition -> committed, measured by
   the store process and, independently, by polling a second connection), the
   producer's CPU share and whether the store kept up.

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
from collections.abc import Callable
from datetime import datetime, timezone
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
from edge_runtime.config.devices import SerialPort, StorageSettings  # noqa: E402
from edge_runtime.store import Store, StoreProducer  # noqa: E402
from edge_runtime.store.connection import connect  # noqa: E402
from edge_runtime.store.rows import READING_SQL, reading_row  # noqa: E402
from firmware_bridge.codecs.gateway import encode_gateway  # noqa: E402
from firmware_bridge.codecs.nmea import encode_gga  # noqa: E402
from firmware_bridge.codecs.winsen import encode_winsen  # noqa: E402
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
TAGS = 200  # gateway tags: GPS on odd addresses, gas on even ones
GATEWAY = SerialPort(port="gw0", protocol="gateway", gateway_devices={a: f"tag{a:03d}" for a in range(1, 2 * TAGS + 1)})
CHUNK = 4096  # bytes per serial read


def observations(n: int, t0: float) -> list[Observation]:
    """A realistic mix: gas, heart rate and motion from wearables, GPS fixes; each reading its own object."""

    def reading(i: int) -> object:
        kind = i % 4
        if kind == 0:
            return GasSample(Gas.H2S, 1.5, "ppm", full_range=100.0)
        if kind == 1:
            return HeartRate(92)
        if kind == 2:
            return Motion(0.01, -0.02, 0.99)
        return GpsFix("GN", "GGA", True, lat=51.5, lon=-0.12, fix_quality=1, hdop=0.9, satellites=11)

    return [Observation(f"w{i % 200:03d}", reading(i), t0 + i * 1e-5) for i in range(n)]  # type: ignore[arg-type]


def gateway_chunks(n: int) -> list[bytes]:
    """``n`` readings (half GPS, half gas) as a gateway's byte stream, cut into serial reads."""
    now = datetime.now(timezone.utc)
    stream = bytearray()
    for i in range(n // 2):
        tag = i % TAGS
        stream += encode_gateway(2 * tag + 1, "nmea", encode_gga(51.5 + tag * 1e-5, -0.12, time_utc=now))
        stream += encode_gateway(2 * tag + 2, "winsen", encode_winsen(Gas.H2S, i % 5, full_range=100))
    return [bytes(stream[i : i + CHUNK]) for i in range(0, len(stream), CHUNK)]


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


Feed = Callable[[Store], Callable[[float], bool]]  # queues everything, returns its own flush


def through_store(path: Path, settings: StorageSettings, readings: int, feed: Feed) -> dict:
    """Time ``feed`` until everything it queued is committed; also the CPU this process spent on it."""
    # The producer here is unpaced: let the queues hold everything so rows/s is the store's.
    store = Store(settings.model_copy(update={"path": path, "max_queued_readings": readings}), serial=[GATEWAY])
    store.open()
    cpu, started = time.process_time(), time.perf_counter()
    flush = feed(store)
    enqueued = time.perf_counter()
    assert flush(120.0) and store.flush(120.0)  # the second also brings this side fresh counters
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    stats = store.stats
    store.close()
    assert stats.rows_written["readings"] == readings, stats
    return {
        "rows_s": readings / elapsed,
        "caller_us": (enqueued - started) / readings * 1e6,
        "producer_cpu_us": cpu / readings * 1e6,
        "write_ms_avg": stats.write_ms_avg,
        "write_ms_max": stats.write_ms_max,
    }


def feed_rows(rows: list[tuple]) -> Feed:
    """As the telemetry ingest process does: a producer of its own, rows built by the caller."""

    def feed(store: Store) -> Callable[[float], bool]:
        address = store.producer_address
        producer = StoreProducer.connect(address.address, address.authkey, len(rows), name="bench")
        for i in range(0, len(rows), 50):  # a telemetry message's worth at a time
            producer.put_rows(rows[i : i + 50])

        def flush(timeout: float) -> bool:
            ok = producer.flush(timeout)
            producer.close()
            return ok

        return flush

    return feed


def feed_chunks(chunks: list[bytes]) -> Feed:
    def feed(store: Store) -> Callable[[float], bool]:
        for chunk in chunks:
            store.record_chunk(GATEWAY.port, time.time(), chunk)
        return store.flush

    return feed


def feed_observations(obs: list[Observation]) -> Feed:
    def feed(store: Store) -> Callable[[float], bool]:
        for o in obs:
            store.record_observation(o)
        return store.flush

    return feed


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
    """Paced gateway chunks plus an alarm every 50 ms; latency seen from a second connection."""
    path = directory / "sustained.db"
    store = Store(settings.model_copy(update={"path": path}), serial=[GATEWAY])
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
    readings = int(rate * seconds)
    chunks = gateway_chunks(readings)
    per_chunk = readings / len(chunks)
    started = time.perf_counter()
    cpu = time.process_time()
    max_depth = 0
    alarms = 0
    for i, chunk in enumerate(chunks):
        store.record_chunk(GATEWAY.port, time.time(), chunk)
        now = time.perf_counter()
        if now - started >= alarms * 0.05:
            with lock:
                pending[f"bench-{alarms}"] = time.perf_counter()
            store.record_transition(transition(alarms, time.time()))
            alarms += 1
        max_depth = max(max_depth, store.queue_depth)
        delay = started + (i + 1) * per_chunk / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    produced_s = time.perf_counter() - started
    assert store.flush(30.0)
    producer_cpu = time.process_time() - cpu
    stop.set()
    watcher.join(10)
    stats = store.stats
    store.close()
    return {
        "offered_rows_s": readings / produced_s,
        "written_rows": stats.rows_written.get("readings", 0),
        "dropped": stats.dropped_overflow + stats.dropped_on_error,
        "max_queue_depth": max_depth,
        "producer_cpu_share": producer_cpu / produced_s,  # this process, watcher thread included
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
    chunks = gateway_chunks(args.rows)
    few = obs[: args.rows // 10]  # the pickled-observation path is for low-rate sources
    with tempfile.TemporaryDirectory() as tmp:
        rounds = []
        for i in range(args.repeat):  # interleaved, so a noisy neighbour hits every side alike
            directory = Path(tmp) / str(i)
            directory.mkdir()
            bare = bare_executemany(directory, rows, settings.batch_size)
            rounds.append({
                "bare": bare,
                "rows": through_store(directory / "rows.db", settings, len(rows), feed_rows(rows)),
                "chunks": through_store(directory / "chunks.db", settings, args.rows, feed_chunks(chunks)),
                "observations": through_store(directory / "obs.db", settings, len(few), feed_observations(few)),
            })
        best = {way: max((r[way] for r in rounds), key=lambda m: m["rows_s"]) for way in ("rows", "chunks",
                                                                                        "observations")}
        best_bare = max(r["bare"] for r in rounds)
        result = {
            "bench": "store_write",
            "rows": args.rows,
            "batch_size": settings.batch_size,
            "store_rows_s": round(best["rows"]["rows_s"]),
            "bare_executemany_rows_s": round(best_bare),
            "ratio": round(best["rows"]["rows_s"] / best_bare, 3),
            "ratio_per_round": [round(r["rows"]["rows_s"] / r["bare"], 3) for r in rounds],
            "insert_all_rows_s": round(insert_all(Path(tmp) / "0", rows, settings.batch_size)),
            "ways": {way: {k: round(v, 3) for k, v in m.items()} for way, m in best.items()},
            "sustained": {
                k: round(v, 3) if isinstance(v, float) else v
                for k, v in sustained(Path(tmp), args.rate, args.seconds, settings).items()
            },
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

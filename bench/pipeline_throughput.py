"""Sustained readings/s through decode -> fusion (+ alarm engine) -> store, as the daemon runs them.

This process plays the alarm process: it decodes a gateway capture, runs
fusion and the alarm engine on every reading and hands the raw bytes to the
Store, exactly as the daemon's serial readers do (``record_chunk``). The
store process decodes them again and commits every reading. Like a serial
port's kernel buffer, the reader holds back while storage is behind, so the
rate reported counts only readings that were decoded, fused AND stored.

The bare baseline, in the same run: the very rows the store wrote, read back
and inserted with a plain ``executemany`` into a fresh database with the same
schema, in transactions of the same size. Prints JSON on its last line.
"""
from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.load import port_frames  # noqa: E402
from bench.support.site import bench_site  # noqa: E402
from edge_runtime.alarms.engine import AlarmEngine  # noqa: E402
from edge_runtime.config import parse_config  # noqa: E402
from edge_runtime.fusion.engine import FusionEngine  # noqa: E402
from edge_runtime.store import Store  # noqa: E402
from edge_runtime.store.connection import connect  # noqa: E402
from edge_runtime.store.migrations import migrate_file  # noqa: E402
from edge_runtime.store.rows import READING_SQL  # noqa: E402
from edge_runtime.store.writer import ROWS_PER_TRANSACTION  # noqa: E402
from firmware_bridge.protocols import StreamDecoder  # noqa: E402
from firmware_bridge.readings import Observation  # noqa: E402

CHUNK = 4096
THROUGHPUT_BOUND = 200_000


def _capture(workers: int, readings: int) -> bytes:
    """A gateway capture holding ``readings`` GPS + gas frames from ``workers`` tags."""
    out = bytearray()
    step = 0
    while (step + 1) * workers * 2 <= readings:
        out += port_frames(list(range(workers)), step)
        step += 1
    return bytes(out)


def _bare_executemany(db: Path, rows: list[tuple[object, ...]]) -> float:
    """Rows/s of a plain executemany of ``rows`` into a fresh database with the store's schema."""
    migrate_file(db)
    conn = connect(db)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(rows), ROWS_PER_TRANSACTION):
            conn.execute("BEGIN")
            conn.executemany(READING_SQL, rows[i : i + ROWS_PER_TRANSACTION])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - t0)
    finally:
        conn.close()


def _stored_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT device, kind, ts, v1, v2, v3, extra FROM readings ORDER BY id").fetchall()
    finally:
        conn.close()


def measure_throughput(*, workers: int = 200, readings: int = 300_000, tmp: Path | None = None) -> dict[str, object]:
    tmp = tmp or Path(tempfile.mkdtemp(prefix="siteguard-tp-"))
    site = bench_site(workers=workers, gateway_ports=[tmp / "gw0"], probe_ports=[], mqtt_port=1883,
                      db_path=tmp / "throughput.db")
    # a deep bound, so that the reader's hold-back (driven by the store process's counters, reported
    # every 0.25 s) measures how fast storage drains, not how often it reports
    site["storage"]["max_queued_readings"] = THROUGHPUT_BOUND
    config = parse_config(site)
    port = config.serial[0]
    capture = _capture(workers, readings)
    store = Store(config.storage, serial=config.serial)
    store.open()
    engine = AlarmEngine(config.alarms, store.record_transition, mute_s=config.gas.mute_s)
    fusion = FusionEngine(config, engine.update, lambda p: None)
    decoder = StreamDecoder("gateway")
    mapping = port.gateway_devices
    n = 0
    waits = 0
    backlog_limit = config.storage.max_queued_readings // 2
    try:
        t0 = time.perf_counter()
        for i in range(0, len(capture), CHUNK):
            now = time.time()
            data = capture[i : i + CHUNK]
            store.record_chunk(port.port, now, data)
            for d in decoder.feed(data):
                fusion.on_observation(Observation(mapping[d.address], d.reading, now))
                n += 1
            # a serial port's kernel buffer holds what the daemon has not read yet: while storage is
            # behind, the reader waits instead of the queues shedding readings. Behind means handed
            # over and not yet committed, wherever it waits (this process's producer, the store
            # process's intake or its writer), kept under half of the bound each of them sheds at
            while n - store.stats.rows_written.get("readings", 0) > backlog_limit:
                waits += 1
                time.sleep(0.001)
        store.flush(timeout=120)
        total = time.perf_counter() - t0
        stats = store.stats
    finally:
        store.close()
    stored = stats.rows_written.get("readings", 0)
    bare = _bare_executemany(tmp / "bare.db", _stored_rows(tmp / "throughput.db"))
    rate = stored / total
    return {
        "readings": n,
        "stored": stored,
        "readings_per_s": round(rate),  # decoded, fused AND stored
        "dropped": stats.dropped_overflow + stats.dropped_on_error,
        "backpressure_waits": waits,
        "bare_executemany_rows_per_s": round(bare),
        "ratio_vs_bare": round(rate / bare, 3),
        "rejected_frames": decoder.stats.frames_rejected,
    }


if __name__ == "__main__":
    result = measure_throughput()
    result["targets"] = {"ratio_vs_bare>=0.2": result["ratio_vs_bare"] >= 0.2, "nothing_dropped": result["dropped"] == 0}
    print(json.dumps(result))

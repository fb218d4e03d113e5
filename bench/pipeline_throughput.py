"""Sustained readings/s through decode -> fusion (+ alarm engine) -> store, in process.

Every reading must be stored: like a serial port's kernel buffer, the reader
holds back while the writer is behind, so the rate reported is what decode,
fusion and storage sustain together in one process. The bare baseline is a
plain sqlite3 ``executemany`` of the same number of rows: what storing alone
costs on this machine. Prints JSON on its last line.
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
from firmware_bridge.protocols import StreamDecoder  # noqa: E402
from firmware_bridge.readings import Observation  # noqa: E402

CHUNK = 4096
BACKLOG_LIMIT = 20_000  # readings queued for the writer before the reader holds back


def _capture(workers: int, readings: int) -> bytes:
    """A gateway capture holding ``readings`` GPS + gas frames from ``workers`` tags."""
    out = bytearray()
    step = 0
    while (step + 1) * workers * 2 <= readings:
        out += port_frames(list(range(workers)), step)
        step += 1
    return bytes(out)


def _bare_executemany(path: Path, rows: list[tuple[object, ...]]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE r (device TEXT, kind TEXT, ts REAL, value REAL, extra TEXT)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), 2000):
        conn.executemany("INSERT INTO r VALUES (?,?,?,?,?)", rows[i : i + 2000])
        conn.commit()
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(rows) / elapsed


def measure_throughput(*, workers: int = 200, readings: int = 300_000, tmp: Path | None = None) -> dict[str, object]:
    tmp = tmp or Path(tempfile.mkdtemp(prefix="siteguard-tp-"))
    site = bench_site(workers=workers, gateway_ports=[tmp / "gw0"], probe_ports=[], mqtt_port=1883,
                      db_path=tmp / "throughput.db")
    config = parse_config(site)
    mapping = config.serial[0].gateway_devices
    capture = _capture(workers, readings)
    store = Store(config.storage)
    store.open()
    engine = AlarmEngine(config.alarms, store.record_transition, mute_s=config.gas.mute_s)
    fusion = FusionEngine(config, engine.update, lambda p: None)
    decoder = StreamDecoder("gateway")
    n = 0
    t0 = time.perf_counter()
    waits = 0
    for i in range(0, len(capture), CHUNK):
        now = time.time()
        for d in decoder.feed(capture[i : i + CHUNK]):
            obs = Observation(mapping[d.address], d.reading, now)
            fusion.on_observation(obs)
            store.record_observation(obs)
            n += 1
        # a serial port's kernel buffer holds what the daemon has not read yet: while the
        # writer is behind, the reader waits instead of the queue dropping readings
        while store.queue_depth > BACKLOG_LIMIT:
            waits += 1
            time.sleep(0.001)

    store.flush(timeout=120)
    total = time.perf_counter() - t0
    stored = store.readings_count()
    dropped = store.stats.dropped_overflow
    store.close()
    rows = [(f"pd{i % workers:03d}", "gas", time.time(), float(i % 7), None) for i in range(n)]
    bare = _bare_executemany(tmp / "bare.db", rows)
    return {
        "readings": n,
        "stored": stored,
        "readings_per_s": round(stored / total),  # decoded, fused AND stored
        "dropped": dropped,
        "backpressure_waits": waits,
        "bare_executemany_rows_per_s": round(bare),
        "rejected_frames": decoder.stats.frames_rejected,
    }


if __name__ == "__main__":
    print(json.dumps(measure_throughput()))

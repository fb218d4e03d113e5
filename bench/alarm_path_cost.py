"""What one serial frame and one telemetry message cost the alarm process, before and after the split.

In one run, on the same frames and messages, with the real fusion and alarm engine:

* serial frame: the alarm process decodes and fuses it and hands the raw bytes to the store
  (``record_chunk``, one append per read). Before, it also built each reading's row (in its
  writer thread, under the same interpreter lock): measured here as decode + fuse + row.
* telemetry message: the alarm process gets coalesced records from the ingest process and
  fuses them. Before, it parsed each message's JSON, built its observations, fused them and
  built their rows (paho's own packet parsing, also in the alarm process then, comes on top and
  is not counted here). The "after" figure counts the wire decoding, the observations and fusion
  of what the coalescer lets through at ``--rate`` messages/s from ``--wearables`` wearables
  with the default 50 ms cadence, per message received.

Prints one JSON object on its last line.

    python bench/alarm_path_cost.py [--rate 9000] [--wearables 200] [--seconds 5]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.load import port_frames  # noqa: E402
from bench.support.site import bench_site  # noqa: E402
from edge_runtime.alarms.engine import AlarmEngine  # noqa: E402
from edge_runtime.config import parse_config  # noqa: E402
from edge_runtime.config.site import SiteConfig  # noqa: E402
from edge_runtime.fusion.engine import FusionEngine  # noqa: E402
from edge_runtime.mqtt.messages import parse_telemetry  # noqa: E402
from edge_runtime.store.rows import reading_row  # noqa: E402
from edge_runtime.telemetry import wire  # noqa: E402
from edge_runtime.telemetry.coalescer import Coalescer  # noqa: E402
from edge_runtime.telemetry.motion_window import MotionReducer  # noqa: E402
from firmware_bridge.codecs.hrm import encode_hrm  # noqa: E402
from firmware_bridge.protocols import StreamDecoder  # noqa: E402
from firmware_bridge.readings import Battery, Contact, HeartRate, Motion, Observation  # noqa: E402

CHUNK = 4096


def _fusion(config: SiteConfig) -> FusionEngine:
    engine = AlarmEngine(config.alarms, lambda t: None, mute_s=config.gas.mute_s)
    return FusionEngine(config, engine.update, lambda p: None)


def serial_cost(config: SiteConfig, workers: int, steps: int) -> dict[str, float]:
    """µs per reading of a gateway stream (GPS + gas frames), now and as it was."""
    capture = b"".join(port_frames(list(range(workers)), s) for s in range(steps))
    mapping = config.serial[0].gateway_devices
    chunks: list[tuple[str, float, bytes]] = []
    results: dict[str, float] = {}
    # alternated and repeated, the best of each: the first pass also warms caches and fusion state
    for name, build_rows in (("before_us", True), ("after_us", False)) * 3:
        fusion, decoder, n = _fusion(config), StreamDecoder("gateway"), 0
        chunks.clear()
        t0 = time.perf_counter()
        for i in range(0, len(capture), CHUNK):
            now, data = time.time(), capture[i : i + CHUNK]
            chunks.append(("gw0", now, data))  # what record_chunk queues
            for d in decoder.feed(data):
                obs = Observation(mapping[d.address], d.reading, now)
                fusion.on_observation(obs)
                if build_rows:
                    reading_row(obs)
                n += 1
        us = round((time.perf_counter() - t0) / n * 1e6, 2)
        results[name] = min(us, results.get(name, us))
    return results


def _messages(wearables: int, count: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        hr = encode_hrm(HeartRate(70 + i % 40, Contact.DETECTED)).hex()
        doc = {"hr_raw": hr, "accel": [0.3 * (i % 3), 0.1, 1.1], "battery": 80.0, "ts": 1.0}
        out.append((f"wb{i % wearables:03d}", json.dumps(doc).encode()))
    return out


def telemetry_cost(config: SiteConfig, wearables: int, rate: float, seconds: float) -> dict[str, float]:
    """µs per telemetry message the alarm process spends, now and as it was."""
    messages = _messages(wearables, int(rate * seconds))
    fusion = _fusion(config)
    t0 = time.perf_counter()
    for wearable, payload in messages:
        for obs in parse_telemetry(wearable, payload, time.time()):
            fusion.on_observation(obs)
            reading_row(obs)
    before = (time.perf_counter() - t0) / len(messages) * 1e6

    # after: the ingest process coalesces (not timed: another process); the alarm process gets a
    # batch every 50 ms and turns its records into observations for fusion (timed)
    coalescer, fusion = Coalescer(MotionReducer(config.man_down)), _fusion(config)
    per_batch = max(1, int(rate * config.mqtt.telemetry_interval_s))
    spent, delivered = 0.0, 0
    for start in range(0, len(messages), per_batch):
        for wearable, payload in messages[start : start + per_batch]:
            obs = parse_telemetry(wearable, payload, time.time())
            hr = next((wire.heart_rate_tuple(o.reading) for o in obs if isinstance(o.reading, HeartRate)), None)
            motion = [(o.reading.ax, o.reading.ay, o.reading.az, o.ts) for o in obs if isinstance(o.reading, Motion)]
            coalescer.put(wearable, obs[0].ts, hr, 80.0, motion)
        frame = wire.encode((coalescer.take(), {}))
        t0 = time.perf_counter()
        records, _stats = wire.decode(frame)
        for w, hr_t, hr_ts, battery, battery_ts, samples in records:
            for s in samples:
                fusion.on_observation(Observation(w, wire.motion(s), s[3]))
            if hr_t is not None:
                fusion.on_observation(Observation(w, wire.heart_rate(hr_t), hr_ts))
            if battery is not None:
                fusion.on_observation(Observation(w, Battery(battery), battery_ts))
        spent += time.perf_counter() - t0
        delivered += len(records)
    return {"before_us": round(before, 2), "after_us": round(spent / len(messages) * 1e6, 2),
            "messages_per_record": round(len(messages) / delivered, 2),
            "shed": coalescer.counters.shed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=9000.0)
    p.add_argument("--wearables", type=int, default=200)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--steps", type=int, default=150, help="gateway capture length: steps x 200 workers x 2 frames")
    a = p.parse_args()
    site = bench_site(workers=a.wearables, gateway_ports=[Path("gw0")], probe_ports=[], mqtt_port=1883,
                      db_path=Path("unused.db"))
    config = parse_config(site)
    result = {"serial_reading": serial_cost(config, a.wearables, a.steps),
              "telemetry_message": telemetry_cost(config, a.wearables, a.rate, a.seconds),
              "rate_messages_per_s": a.rate}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

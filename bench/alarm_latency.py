"""Alarm latency benchmark (issue: edge core).

Time from the last byte of a gas frame written to a pty to the alert received
by an independent MQTT subscriber, p50/p99, under a background load of N
workers × (GPS + HR + gas) at R Hz each, and at 10× that. Beside it, in the
same run and under the same load, a bare baseline (pty read -> paho publish ->
subscriber). Also: the daemon's RSS and the sustained decode+fuse+store rate.
Prints one JSON object on its last line.

    python bench/alarm_latency.py [--workers 200] [--rate-hz 3] [--levels 1,10] [--probes 200]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402

from bench.pipeline_throughput import measure_throughput  # noqa: E402
from bench.support.load import LoadGenerator  # noqa: E402
from bench.support.process import terminate  # noqa: E402
from bench.support.site import bench_site  # noqa: E402
from edge_runtime.local_broker import LocalBroker  # noqa: E402
from firmware_bridge.codecs.winsen import encode_winsen  # noqa: E402
from firmware_bridge.readings import Gas  # noqa: E402
from firmware_bridge.sim.pty import PtyPort  # noqa: E402

SITE = "bench"
BASELINE_TOPIC = "bench/baseline"
HIGH = encode_winsen(Gas.H2S, 30, full_range=100)
ZERO = encode_winsen(Gas.H2S, 0, full_range=100)


class Listener:
    """An independent subscriber; stamps each message on arrival (CLOCK_MONOTONIC)."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-listener")
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload, time.perf_counter()))
        self.client.connect("127.0.0.1", port)
        for topic in (f"siteguard/{SITE}/workers/+/alert", f"siteguard/{SITE}/alarms/+",
                      f"siteguard/{SITE}/devices/+/status", BASELINE_TOPIC):
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def wait(self, match, timeout: float) -> tuple[str, bytes, float] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if match(*msg[:2]):
                return msg
        return None

    def drain(self) -> None:
        while not self.messages.empty():
            self.messages.get_nowait()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))] * 1000, 3)


def _summary(values: list[float], attempts: int) -> dict[str, object]:
    return {"n": len(values), "lost": attempts - len(values), "p50_ms": _pct(values, 0.5),
            "p99_ms": _pct(values, 0.99), "max_ms": _pct(values, 1.0),
            "mean_ms": round(statistics.fmean(values) * 1000, 3) if values else None}


def probe_daemon(listener: Listener, probes: list[PtyPort], k: int) -> float | None:
    """One new gas alarm on probe worker k; then ack + clear so the next probe is a new alarm."""
    worker = f"probe{k:02d}"
    topic = f"siteguard/{SITE}/workers/{worker}/alert"
    listener.drain()
    t0 = time.perf_counter()
    probes[k].write(HIGH)
    got = listener.wait(lambda t, p: t == topic and json.loads(p).get("kind", "").startswith("gas"), 5.0)
    if got is None:
        return None
    alarm_id = json.loads(got[1])["alarm_id"]
    listener.client.publish(f"siteguard/{SITE}/alarms/{alarm_id}/ack", json.dumps({"by": "bench"}), qos=1)
    probes[k].write(ZERO)
    listener.wait(lambda t, p: t == f"siteguard/{SITE}/alarms/{alarm_id}" and p == b"", 3.0)
    return got[2] - t0


def probe_bare(listener: Listener, port: PtyPort) -> float | None:
    listener.drain()
    t0 = time.perf_counter()
    port.write(HIGH)
    got = listener.wait(lambda t, p: t == BASELINE_TOPIC, 5.0)
    return None if got is None else got[2] - t0


def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="siteguard-bench-"))
    broker = LocalBroker().start()
    gateways = [PtyPort(tmp, f"gw{i}") for i in range(args.gateway_ports)]
    probes = [PtyPort(tmp, f"probe{k}") for k in range(args.probe_ports)]
    bare_port = PtyPort(tmp, "bare")
    site = bench_site(workers=args.workers, gateway_ports=[g.path for g in gateways],
                      probe_ports=[p.path for p in probes], mqtt_port=broker.port, db_path=tmp / "bench.db")
    (tmp / "site.yaml").write_text(yaml.safe_dump(site))
    listener = Listener(broker.port)
    daemon = subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(tmp / "site.yaml")], cwd=REPO)
    bare = subprocess.Popen([sys.executable, str(REPO / "bench" / "support" / "bare_baseline.py"), str(bare_port.path),
                             str(broker.port), BASELINE_TOPIC], stdout=subprocess.PIPE, text=True, cwd=REPO)
    results: dict[str, object] = {}
    try:
        online = listener.wait(lambda t, p: t.endswith("/status") and b"online" in p, 30.0)
        if online is None or bare.stdout.readline().strip() != "ready":
            raise RuntimeError("daemon or baseline did not start")
        proc = psutil.Process(daemon.pid)
        levels = {}
        for level in args.levels:
            rate = args.rate_hz * level
            load = LoadGenerator([g.fileno() for g in gateways], args.workers, broker.port, SITE, rate)
            cpu0 = proc.cpu_times()
            t_start = time.perf_counter()
            load.start()
            time.sleep(args.warmup_s)
            ours: list[float] = []
            base: list[float] = []
            for i in range(args.probes):
                if (lat := probe_daemon(listener, probes, i % len(probes))) is not None:
                    ours.append(lat)
                if (lat := probe_bare(listener, bare_port)) is not None:
                    base.append(lat)
                time.sleep(args.probe_gap_s)
            rss = proc.memory_info().rss
            sent_per_s = load.stop()
            elapsed = time.perf_counter() - t_start
            cpu1 = proc.cpu_times()
            levels[f"x{level:g}"] = {
                "load_readings_per_s_target": args.workers * 3 * rate,
                "load_readings_per_s_sent": round(sent_per_s, 1),
                "daemon": _summary(ours, args.probes),
                "bare_baseline": _summary(base, args.probes),
                "p99_ratio_vs_bare": round(_pct(ours, .99) / _pct(base, .99), 2) if ours and base else None,
                "daemon_cpu_percent": round(100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed, 1),
                "daemon_rss_mb": round(rss / 2**20, 1),
            }
            time.sleep(1.0)
        results["levels"] = levels
    finally:
        terminate(daemon)
        bare.kill()
        listener.close()
        broker.stop()
    results["throughput"] = measure_throughput(workers=args.workers, readings=args.throughput_readings, tmp=tmp)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=200)
    p.add_argument("--rate-hz", type=float, default=3.0)
    p.add_argument("--levels", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 10.0])
    p.add_argument("--probes", type=int, default=int(os.environ.get("SITEGUARD_BENCH_PROBES", 200)))
    p.add_argument("--probe-ports", type=int, default=8)
    p.add_argument("--gateway-ports", type=int, default=4)
    p.add_argument("--probe-gap-s", type=float, default=0.02)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--throughput-readings", type=int, default=300_000)
    args = p.parse_args()
    results = run(args)
    base = results["levels"].get("x1", {})  # type: ignore[union-attr]
    results["targets"] = {
        "p99_base_load_ms<=5": (base.get("daemon", {}).get("p99_ms") or 1e9) <= 5,
        "p99_within_2x_bare": (base.get("p99_ratio_vs_bare") or 1e9) <= 2,
        "throughput>=50000/s": results["throughput"]["readings_per_s"] >= 50_000,  # type: ignore[index]
        "rss<=120MB": (base.get("daemon_rss_mb") or 1e9) <= 120,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()

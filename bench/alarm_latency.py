"""Alarm latency under load levels: gas frame -> worker alert, p50/p99, lost probes, CPU and RSS over time.

For each level (1x, 10x, 20x of the base load by default) a fresh daemon runs
the benchmark site (bench/support/site.py: N workers x GPS + gas over serial
gateways and HR over MQTT, at ``rate_hz`` x level each) for ``--duration-s``,
while gas probes (the last byte of a Winsen frame on a pty -> the worker's
alert at an independent subscriber; bench/support/gas_probe.py) run back to
back, interleaved with the same frame through a bare baseline (pty read ->
publish) on the same broker under the same load.

Bounded: a probe not answered within ``--probe-timeout-s`` is lost, a level
ends after ``--max-lost`` lost probes, and every process the benchmark
starts is stopped on return, on an exception, on Ctrl-C and on SIGTERM.

Reported per level: p50/p99 of both paths and their ratio, lost probes, the
readings/s the generator achieved, and per daemon process (alarm, store,
ingest, ...) its CPU and RSS time series, flat or not (bench/support/tree_meter.py:
within 10 % of the value after the first minute, under 120 MB). Then the
sustained decode + fusion + storage rate (bench/pipeline_throughput.py).
Prints one JSON object on its last line.

    python bench/alarm_latency.py [--levels 1,10,20] [--duration-s 300] [--workers 200] [--rate-hz 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pipeline_throughput import measure_throughput  # noqa: E402
from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.gas_probe import probe_bare  # noqa: E402
from bench.support.probed_site import probed_site  # noqa: E402
from bench.support.process import terminate  # noqa: E402
from bench.support.stats import pct, summary  # noqa: E402
from bench.support.tree_meter import TreeMeter  # noqa: E402
from firmware_bridge.sim.pty import PtyPort  # noqa: E402

BASELINE_TOPIC = "bench/baseline"
RSS_INTERVAL_S = 5.0


def _bare(work: Path, broker_port: int) -> tuple[subprocess.Popen[str], PtyPort]:
    port = PtyPort(work, "bare")
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "support" / "bare_baseline.py"), str(port.path),
                             str(broker_port), BASELINE_TOPIC], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        terminate(proc)
        raise RuntimeError("the bare baseline did not start")
    return proc, port


def run_level(level: float, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rate = args.rate_hz * level
    with probed_site(work, workers=args.workers, rate_hz=rate, probe_timeout_s=args.probe_timeout_s,
                     extra_topics=(BASELINE_TOPIC,)) as site:
        bare, bare_port = _bare(work, site.broker_port)
        try:
            base: list[float] = []
            base_lost = 0
            with TreeMeter(site.daemon.pid, RSS_INTERVAL_S) as meter:
                site.load.start()
                time.sleep(args.warmup_s)
                t0 = time.monotonic()
                i = 0
                while time.monotonic() - t0 < args.duration_s and site.gas.lost < args.max_lost:
                    site.probe(i)
                    if (lat := probe_bare(site.prober, bare_port, BASELINE_TOPIC, args.probe_timeout_s)) is None:
                        base_lost += 1
                    else:
                        base.append(lat)
                    i += 1
                    time.sleep(args.probe_gap_s)
                measured_s = time.monotonic() - t0
                sent_per_s = site.load.stop()
        finally:
            terminate(bare)
    ours = site.gas.latencies
    return {
        "load_readings_per_s_target": args.workers * 3 * rate,
        "load_readings_per_s_sent": round(sent_per_s, 1),
        "measured_s": round(measured_s, 1),
        "ended_early": site.gas.lost >= args.max_lost,
        "daemon": summary(ours, len(ours) + site.gas.lost),
        "bare_baseline": summary(base, len(base) + base_lost),
        "p99_ratio_vs_bare": round(pct(ours, .99) / pct(base, .99), 2) if ours and base else None,  # type: ignore[operator]
        "processes": meter.report(),
    }


def targets(levels: dict[str, Any], throughput: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets, as booleans (README states the figures)."""
    out: dict[str, bool] = {}
    x1, x10 = levels.get("x1"), levels.get("x10")
    if x1:
        out["p99_at_1x<=5ms"] = (x1["daemon"]["p99_ms"] or 1e9) <= 5
        out["p99_at_1x<=2x_bare"] = (x1["p99_ratio_vs_bare"] or 1e9) <= 2
    if x10:
        out["p99_at_10x<=10ms"] = (x10["daemon"]["p99_ms"] or 1e9) <= 10
        out["no_probe_lost_at_10x"] = x10["daemon"]["lost"] == 0
    for name, level in levels.items():
        if name != "x1":
            out[f"rss_flat_{name}"] = level["processes"]["flat"]
            out[f"rss<=120MB_per_process_{name}"] = level["processes"]["under_limit"]
    out["throughput>=0.2x_bare_executemany"] = throughput["ratio_vs_bare"] >= 0.2
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=200)
    p.add_argument("--rate-hz", type=float, default=3.0, help="base rate of each worker's GPS, gas and HR")
    p.add_argument("--levels", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 10.0, 20.0])
    p.add_argument("--duration-s", type=float, default=float(os.environ.get("SITEGUARD_BENCH_DURATION_S", 300)),
                   help="probing time per level (the RSS verdict needs more than a minute)")
    p.add_argument("--probe-timeout-s", type=float, default=2.0, help="a probe not answered by then is lost")
    p.add_argument("--max-lost", type=int, default=10, help="a level ends after this many lost probes")
    p.add_argument("--probe-gap-s", type=float, default=0.05)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--throughput-readings", type=int, default=300_000)
    args = p.parse_args()
    results: dict[str, Any] = {"levels": {}}
    with bench_session():
        root = Path(tempfile.mkdtemp(prefix="siteguard-bench-latency-"))
        for level in args.levels:
            try:
                results["levels"][f"x{level:g}"] = run_level(level, args, root / f"x{level:g}")
            except RuntimeError as exc:  # a daemon that did not start is a result, not a hang
                results["levels"][f"x{level:g}"] = {"error": str(exc)}
            print(json.dumps({f"x{level:g}": _short(results["levels"][f"x{level:g}"])}), file=sys.stderr, flush=True)
        results["throughput"] = measure_throughput(workers=args.workers, readings=args.throughput_readings,
                                                   tmp=root / "throughput")
    ok = {k: v for k, v in results["levels"].items() if "error" not in v}
    results["targets"] = targets(ok, results["throughput"])
    print(json.dumps(results))


def _short(level: dict[str, Any]) -> dict[str, Any]:
    """Progress on stderr: the level's headline figures, without the time series."""
    if "error" in level:
        return level
    procs = level["processes"]["processes"]
    return {"p50_ms": level["daemon"]["p50_ms"], "p99_ms": level["daemon"]["p99_ms"], "lost": level["daemon"]["lost"],
            "bare_p99_ms": level["bare_baseline"]["p99_ms"], "sent_per_s": level["load_readings_per_s_sent"],
            "rss_max_mb": {k: v["rss_max_mb"] for k, v in procs.items()},
            "cpu": {k: v["cpu_percent"] for k, v in procs.items()}}


if __name__ == "__main__":
    main()

"""Dashboard load benchmark (issue 4). Prints one JSON object on its last line.

The gas alarm p99 of bench/alarm_latency.py (last byte of a frame on a pty ->
alert at an MQTT subscriber, under its background sensor load) with N
signed-in pages reading the live-update stream (``GET /api/v1/events``) vs
none. The pages run in a process of their own (aiohttp), so their CPU is not
the daemon's; runs without and with them alternate ``--rounds`` times, as in
bench/vision.py, and the samples of each kind are pooled. Target: p99 with
the pages <= 1.2x the p99 without.

    python bench/dashboard_load.py [--clients 50] [--probes 100] [--rounds 3] [--workers 50] [--probe-gap-s 0.05]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.dashboard_pages import Pages, viewer_account  # noqa: E402
from bench.support.probed_site import probed_site  # noqa: E402
from bench.support.stats import pct, summary  # noqa: E402
from bench.support.tree_meter import TreeMeter  # noqa: E402
from edge_runtime.local_broker import free_port  # noqa: E402


# -- one run: a daemon, its load, probes, and maybe pages ---------------------------------------

def alarm_latencies(args: argparse.Namespace, tmp: Path, clients: int, tag: str) -> tuple[list[float], dict[str, Any]]:
    """bench/alarm_latency.py's probe under its load, with ``clients`` pages reading the stream."""
    http_port = free_port()
    pages: Pages | None = None
    report: dict[str, Any] = {}
    with probed_site(tmp / tag, workers=args.workers, rate_hz=args.rate_hz,
                     http={"host": "127.0.0.1", "port": http_port}, dashboard={"accounts": [viewer_account()]}) as site:
        try:
            if clients:
                pages = Pages(f"http://127.0.0.1:{http_port}", clients)
                report["connected"] = pages.wait_ready()
            site.load.start()
            time.sleep(args.warmup_s)
            pages_cpu0 = _cpu_s(pages.pid) if pages is not None else 0.0
            t0 = time.perf_counter()
            latencies = []
            with TreeMeter(site.daemon.pid) as meter:
                for i in range(args.probes):
                    if (lat := site.probe(i)) is not None:
                        latencies.append(lat)
                    time.sleep(args.probe_gap_s)  # spread over several `workers` pushes, not between two of them
            report["cpu_percent"] = {"daemon": meter.report()["total_cpu_percent"]}
            if pages is not None:
                report["cpu_percent"]["pages"] = round(100 * (_cpu_s(pages.pid) - pages_cpu0)
                                                       / (time.perf_counter() - t0), 1)
            site.load.stop()
            if pages is not None:
                report["counts"] = pages.stop()
                pages = None
            return latencies, report
        finally:
            if pages is not None:
                pages.stop()


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def events_per_client(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Events each page received, over all runs with pages (the measured part and its set-up)."""
    totals = [sum(c.values()) for run in runs for c in run.get("counts", [])]
    by_name: dict[str, int] = {}
    for run in runs:
        for counts in run.get("counts", []):
            for name, n in counts.items():
                by_name[name] = by_name.get(name, 0) + n
    pages = len(totals)
    return {
        "min": min(totals, default=0), "mean": round(statistics.fmean(totals), 1) if totals else 0,
        "max": max(totals, default=0),
        "by_event_mean": {name: round(n / pages, 1) for name, n in sorted(by_name.items())} if pages else {},
    }


def _mean_cpu(runs: list[dict[str, Any]]) -> dict[str, float]:
    names = {name for run in runs for name in run["cpu_percent"]}
    return {name: round(statistics.fmean(run["cpu_percent"][name] for run in runs), 1) for name in sorted(names)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50, help="signed-in pages reading the live stream")
    p.add_argument("--probes", type=int, default=100, help="alarm probes per run")
    p.add_argument("--rounds", type=int, default=3, help="alternating runs without and with pages")
    p.add_argument("--workers", type=int, default=50, help="background workers of the alarm-latency load")
    p.add_argument("--rate-hz", type=float, default=3.0)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--probe-gap-s", type=float, default=0.05)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="siteguard-bench-dashboard-"))
    kinds = {"no_clients": 0, "with_clients": args.clients}
    pooled: dict[str, list[float]] = {kind: [] for kind in kinds}
    reports: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    with bench_session():
        for r in range(args.rounds):
            for kind, clients in kinds.items():
                latencies, report = alarm_latencies(args, tmp, clients, f"{kind}{r}")
                pooled[kind] += latencies
                reports[kind].append(report)
    none_p99, with_p99 = pct(pooled["no_clients"], 0.99), pct(pooled["with_clients"], 0.99)
    ratio = round(with_p99 / none_p99, 2) if none_p99 and with_p99 else None
    results = {
        "clients": args.clients,
        "clients_connected": min((run.get("connected", 0) for run in reports["with_clients"]), default=0),
        "events_per_client": events_per_client(reports["with_clients"]),
        "cpu_percent_of_a_core": {kind: _mean_cpu(runs) for kind, runs in reports.items()},
        "sensor_alarm": {kind: summary(values, args.probes * args.rounds) for kind, values in pooled.items()},
        "p99_no_clients_ms": none_p99, "p99_with_clients_ms": with_p99, "p99_ratio": ratio,
        "targets": {"alarm_p99_with_clients<=1.2x": (ratio or 1e9) <= 1.2},
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()

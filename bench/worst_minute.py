"""The worst minute, held for minutes: everything a busy site does at once, and the alarms still on time.

One daemon on the benchmark site with, at the same time:
- 10x the base sensor load (200 workers x GPS + gas over serial gateways at
  30 Hz each) and the 200 wearables' MQTT telemetry at the same rate;
- two cameras at 10 fps running the shipped camera model on a site video;
- 50 signed-in dashboard pages reading the live-update stream (their own process);
for ``--duration-s`` (5 minutes by default), while gas probes (a Winsen frame's
last byte on a pty -> the worker's alert) and panic probes (a wearable's panic
press over MQTT -> the worker's alert) alternate back to back. A probe not
answered within 2 s is lost; the run ends early after ``--max-lost``.

Reported: p50/p99 and lost of both probes, the load the generator achieved,
per daemon process (alarm, store, ingest, each camera worker) its CPU and RSS
time series and whether it stayed flat, the node's queues at the end (what
the overload policy shed; events never), the pages' event counts.
Targets: both p99 <= 20 ms, nothing lost, no event shed, every RSS flat.
Every process started is stopped on return, exception, Ctrl-C or SIGTERM.
Prints one JSON object on its last line.

    python bench/worst_minute.py [--duration-s 300] [--level 10] [--pages 50] [--cameras 2] [--fps 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.dashboard_pages import Pages, viewer_account  # noqa: E402
from bench.support.panic_probe import PanicProbes  # noqa: E402
from bench.support.probed_site import probed_site  # noqa: E402
from bench.support.stats import summary  # noqa: E402
from bench.support.tree_meter import TreeMeter  # noqa: E402
from bench.vision import DEFAULT_MODEL, scene_video  # noqa: E402
from edge_runtime.local_broker import free_port  # noqa: E402

BASE_RATE_HZ = 3.0
PANIC_PROBE_WORKERS = 10  # the last background workers' wearables also press panic


def _readiness(http_port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5) as r:  # noqa: S310 - loopback
            return json.loads(r.read())
    except OSError as exc:  # /readyz answers 503 with the same body when not ready
        body = getattr(exc, "read", None)
        return json.loads(body()) if body else {"error": str(exc)}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    video = scene_video(work / "scene.avi", frames=150, fps=15.0)
    cameras = [{"id": f"cam{i}", "fps": args.fps, "source": str(video), "loop": True, "model": str(args.model),
                "threads": 1} for i in range(args.cameras)]
    http_port = free_port()
    report: dict[str, Any] = {"level": args.level, "cameras": args.cameras, "fps": args.fps, "pages": args.pages}
    with probed_site(work / "site", workers=args.workers, rate_hz=BASE_RATE_HZ * args.level, cameras=cameras,
                     http={"host": "127.0.0.1", "port": http_port},
                     dashboard={"accounts": [viewer_account()]}) as site:
        pages = Pages(f"http://127.0.0.1:{http_port}", args.pages) if args.pages else None
        try:
            report["pages_connected"] = pages.wait_ready() if pages is not None else 0
            pressing = range(max(0, args.workers - PANIC_PROBE_WORKERS), args.workers)
            panic = PanicProbes(site.prober, [(f"wb{i:03d}", f"w{i:03d}") for i in pressing])
            with TreeMeter(site.daemon.pid) as meter:
                site.load.start()
                time.sleep(args.warmup_s)
                t0 = time.monotonic()
                i = 0
                while (time.monotonic() - t0 < args.duration_s
                       and site.gas.lost + panic.missed < args.max_lost):
                    site.probe(i)
                    panic.probe(i)
                    i += 1
                    time.sleep(args.probe_gap_s)
                report["measured_s"] = round(time.monotonic() - t0, 1)
                report["load_readings_per_s_sent"] = round(site.load.stop(), 1)
            report["readyz"] = _readiness(http_port)
            if pages is not None:
                counts = pages.stop()
                pages = None
                report["events_per_page_mean"] = round(sum(sum(c.values()) for c in counts) / max(len(counts), 1), 1)
        finally:
            if pages is not None:
                pages.stop()
    report["gas"] = summary(site.gas.latencies, len(site.gas.latencies) + site.gas.lost)
    report["panic"] = {**summary(panic.latencies, len(panic.latencies) + panic.missed), "missed": panic.missed}
    report["processes"] = meter.report()
    return report


def targets(report: dict[str, Any]) -> dict[str, bool]:
    queues = report.get("readyz", {}).get("load", {}).get("queues", [])
    return {
        "gas_p99<=20ms": (report["gas"]["p99_ms"] or 1e9) <= 20,
        "panic_p99<=20ms": (report["panic"]["p99_ms"] or 1e9) <= 20,
        "nothing_lost": report["gas"]["lost"] == 0 and report["panic"]["missed"] == 0,
        "no_event_shed": bool(queues) and all(q["shed"] == 0 for q in queues if q["kind"] == "events"),
        "rss_flat_every_process": report["processes"]["flat"],
        "rss<=120MB_alarm_store_ingest": report["processes"]["under_limit"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration-s", type=float, default=float(os.environ.get("SITEGUARD_BENCH_DURATION_S", 300)))
    p.add_argument("--level", type=float, default=10.0, help="sensor load, times the base 3 Hz per worker")
    p.add_argument("--workers", type=int, default=200)
    p.add_argument("--pages", type=int, default=50)
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--max-lost", type=int, default=10, help="the run ends after this many lost probes")
    p.add_argument("--probe-gap-s", type=float, default=0.05)
    p.add_argument("--warmup-s", type=float, default=5.0)
    args = p.parse_args()
    with bench_session():
        report = run(args, Path(tempfile.mkdtemp(prefix="siteguard-bench-worst-")))
    report["targets"] = targets(report)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

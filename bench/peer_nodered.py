"""Panic press -> worker alert over MQTT: SiteGuard's daemon against Node-RED 4, same load, same run.

Each system gets its own Mosquitto with the same settings (edge_runtime.local_broker),
the same 200 wearables publishing telemetry in the background at each rate
(1,800 and 9,000 messages/s by default), and the same panic probes from an
independent client (bench/support/panic_probe.py). Node-RED runs a stateless
flow (bench/support/nodered.py); the daemon keeps its full fusion state, stores
every reading and latches the panic alarm, which the prober acknowledges and
cancels after each probe. A probe not answered within 2 s is missed.
Node-RED is installed with npm into .bench-cache/ on first use; without npm
the benchmark prints {"skipped": ...}. Prints one JSON object on its last line.

    python bench/peer_nodered.py [--rates 1800,9000] [--probes 200] [--warmup-s 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from bench.support import nodered  # noqa: E402
from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.mqtt_load import TelemetryLoad  # noqa: E402
from bench.support.panic_probe import PanicProbes, Prober  # noqa: E402
from bench.support.process import terminate, tree  # noqa: E402
from bench.support.site import bench_site  # noqa: E402
from bench.support.stats import summary  # noqa: E402
from edge_runtime.local_broker import LocalBroker  # noqa: E402

SITE = "bench"
WEARABLES = 200
PROBE_PAIRS = [(f"wb{i:03d}", f"w{i:03d}") for i in range(WEARABLES - 8, WEARABLES)]


def _site(port: int, work: Path) -> dict[str, Any]:
    site = bench_site(workers=WEARABLES, gateway_ports=[], probe_ports=[], mqtt_port=port, db_path=work / "bench.db")
    return site


def _start_daemon(work: Path, port: int, stack: ExitStack) -> subprocess.Popen[bytes]:
    (work / "site.yaml").write_text(yaml.safe_dump(_site(port, work)))
    with (work / "daemon.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(work / "site.yaml")],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(terminate, proc)
    return proc


def _start_nodered(work: Path, port: int, stack: ExitStack) -> subprocess.Popen[bytes]:
    site = _site(port, work)
    workers = {w["wearable"]: {"id": w["id"], "hr_limit": 180 - w["age"]} for w in site["workers"] if w.get("wearable")}
    nodered.write_flow(work, site=SITE, mqtt_port=port, workers=workers)
    proc = nodered.start(work, work / "node-red.log")
    stack.callback(terminate, proc)
    return proc


def _ready(probes: PanicProbes, timeout: float) -> bool:
    """The first answered probe proves the whole path (subscriptions, flow deployed, daemon online)."""
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        if probes.probe(i) is not None:
            probes.latencies.clear()
            probes.missed = 0
            time.sleep(0.3)
            return True
        i += 1
    return False


def measure(system: str, rate: float, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    (work / "mosquitto").mkdir(parents=True)
    with ExitStack() as stack:
        broker = LocalBroker(workdir=work / "mosquitto").start()
        stack.callback(broker.stop)
        start = _start_nodered if system == "nodered" else _start_daemon
        proc = start(work, broker.port, stack)
        prober = Prober(broker.port, SITE, client_id=f"bench-prober-{system}")
        stack.callback(prober.close)
        probes = PanicProbes(prober, PROBE_PAIRS, reset=system == "daemon")
        if not _ready(probes, 90.0):
            return {"error": f"{system} never answered a probe", "log_tail": _tail(work, system)}
        load = TelemetryLoad(broker.port, SITE, [f"wb{i:03d}" for i in range(WEARABLES)], rate)
        stack.callback(load.stop)
        load.start()
        time.sleep(args.warmup_s)
        procs = tree(proc.pid)
        cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        t0 = time.perf_counter()
        for i in range(args.probes):
            probes.probe(i)
            if probes.missed >= args.max_missed:
                break
            time.sleep(args.probe_gap_s)
        elapsed = time.perf_counter() - t0
        cpu = 0.0
        rss = 0
        by_process: dict[str, float] = {}
        for p in procs:
            try:
                used = sum(p.cpu_times()[:2]) - cpu0[p.pid]
                rss += p.memory_info().rss
                by_process[p.name()] = round(by_process.get(p.name(), 0.0) + 100 * used / elapsed, 1)
                cpu += used
            except Exception:  # a child that ended: its share is lost, not the run
                pass
        sent = load.stop()
        return {**summary(probes.latencies, len(probes.latencies) + probes.missed), "missed": probes.missed,
                "telemetry_per_s_sent": round(sent), "cpu_percent": round(100 * cpu / elapsed, 1),
                "cpu_percent_by_process": by_process, "rss_mb": round(rss / 2**20, 1), "processes": len(procs)}


def _tail(work: Path, system: str) -> str:
    log = work / ("node-red.log" if system == "nodered" else "daemon.log")
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[1800.0, 9000.0])
    p.add_argument("--probes", type=int, default=int(os.environ.get("SITEGUARD_BENCH_PROBES", 200)))
    p.add_argument("--probe-gap-s", type=float, default=0.03)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--max-missed", type=int, default=20, help="a system's level ends after this many missed probes")
    args = p.parse_args()
    try:
        nodered.install()
    except (nodered.NodeRedUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        print(json.dumps({"skipped": f"Node-RED peer not available: {exc}"}))
        return
    results: dict[str, Any] = {"rates": {}}
    with bench_session():
        root = Path(tempfile.mkdtemp(prefix="siteguard-peer-"))
        for rate in args.rates:
            level: dict[str, Any] = {}
            for system in ("nodered", "daemon"):
                level[system] = measure(system, rate, args, root / f"{system}-{rate:g}")
            ours, theirs = level["daemon"].get("p99_ms"), level["nodered"].get("p99_ms")
            level["p99_ratio_daemon_vs_nodered"] = round(ours / theirs, 2) if ours and theirs else None
            results["rates"][f"{rate:g}"] = level
    results["targets"] = _targets(results["rates"])
    print(json.dumps(results))


def _targets(rates: dict[str, Any]) -> dict[str, bool]:
    out = {}
    for key, want in (("1800", 1.0), ("9000", 0.5)):
        level = rates.get(key)
        if level is None:
            continue
        ratio = level.get("p99_ratio_daemon_vs_nodered")
        out[f"p99_at_{key}<={want}x_nodered"] = ratio is not None and ratio <= want
        out[f"no_panic_missed_at_{key}"] = level["daemon"].get("missed", 1) == 0
    return out


if __name__ == "__main__":
    main()

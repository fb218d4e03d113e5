"""Panic press -> worker alert over MQTT for one system under background telemetry: the daemon or Node-RED.

Shared by bench/peer_nodered.py (both systems, same load) and
bench/unknown_wearables.py (the daemon, telemetry from ids no worker carries).
Each measurement gets its own Mosquitto (edge_runtime.local_broker), the
background publisher and the panic probes (bench/support/panic_probe.py); every
process is stopped on return or an exception.
"""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.support import nodered
from bench.support.mqtt_load import TelemetryLoad
from bench.support.panic_probe import PanicProbes, Prober
from bench.support.process import terminate, tree
from bench.support.site import bench_site
from bench.support.stats import summary
from edge_runtime.local_broker import LocalBroker

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ProbeRun:
    """How many probes, how far apart, after how long a warm-up; a system's run ends after max_missed."""

    probes: int
    probe_gap_s: float
    warmup_s: float
    max_missed: int


SITE = "bench"
WEARABLES = 200
PROBE_PAIRS = [(f"wb{i:03d}", f"w{i:03d}") for i in range(WEARABLES - 8, WEARABLES)]


def _site(port: int, work: Path, storage: dict[str, Any] | None = None) -> dict[str, Any]:
    site = bench_site(workers=WEARABLES, gateway_ports=[], probe_ports=[], mqtt_port=port, db_path=work / "bench.db")
    site["storage"].update(storage or {})
    return site


def _start_daemon(work: Path, port: int, stack: ExitStack, storage: dict[str, Any] | None = None
                  ) -> subprocess.Popen[bytes]:
    (work / "site.yaml").write_text(yaml.safe_dump(_site(port, work, storage)))
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


def measure(system: str, rate: float, run: ProbeRun, work: Path, load_wearables: list[str] | None = None,
            storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """p50/p99/missed, CPU (per process) and RSS of ``system`` answering panic probes while ``load_wearables``
    (default: the site's 200) publish ``rate`` messages/s in the background; ``storage``: the daemon's
    site-file storage settings over the benchmark site's."""
    (work / "mosquitto").mkdir(parents=True)
    with ExitStack() as stack:
        broker = LocalBroker(workdir=work / "mosquitto").start()
        stack.callback(broker.stop)
        if system == "nodered":
            proc = _start_nodered(work, broker.port, stack)
        else:
            proc = _start_daemon(work, broker.port, stack, storage)
        prober = Prober(broker.port, SITE, client_id=f"bench-prober-{system}")
        stack.callback(prober.close)
        probes = PanicProbes(prober, PROBE_PAIRS, reset=system == "daemon")
        if not _ready(probes, 90.0):
            return {"error": f"{system} never answered a probe", "log_tail": _tail(work, system)}
        load = TelemetryLoad(broker.port, SITE, load_wearables or [f"wb{i:03d}" for i in range(WEARABLES)], rate)
        stack.callback(load.stop)
        load.start()
        time.sleep(run.warmup_s)
        procs = tree(proc.pid)
        cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        t0 = time.perf_counter()
        for i in range(run.probes):
            probes.probe(i)
            if probes.missed >= run.max_missed:
                break
            time.sleep(run.probe_gap_s)
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



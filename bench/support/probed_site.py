"""The daemon on the benchmark site, its background load and its alarm probes, in one place.

bench/vision.py (cameras or not) and bench/dashboard_load.py (pages or not)
measure the same thing under different extras: bench/alarm_latency.py's probe
(a gas frame's last byte on a pty -> the worker alert at an MQTT subscriber)
while the daemon, as its own process, carries the load generator's readings.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.alarm_latency import SITE, Listener, probe_daemon
from bench.support.load import LoadGenerator
from bench.support.process import terminate
from bench.support.site import bench_site
from edge_runtime.local_broker import LocalBroker
from firmware_bridge.sim.pty import PtyPort

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ProbedSite:
    daemon: subprocess.Popen[bytes]
    load: LoadGenerator  # not started: the caller starts it when its own extras are ready
    listener: Listener
    probes: list[PtyPort]

    def probe(self, i: int) -> float | None:
        """One gas alarm on probe port ``i`` (round robin); seconds to the alert, None if lost."""
        return probe_daemon(self.listener, self.probes, i % len(self.probes))


@contextmanager
def probed_site(work: Path, *, workers: int, rate_hz: float, **extra: Any) -> Iterator[ProbedSite]:
    """A broker, the daemon (``extra`` site-file sections added) running and online; all stopped after."""
    work.mkdir()
    broker = LocalBroker().start()
    gateways = [PtyPort(work, f"gw{i}") for i in range(2)]
    probes = [PtyPort(work, f"probe{k}") for k in range(4)]
    site = bench_site(workers=workers, gateway_ports=[g.path for g in gateways],
                      probe_ports=[p.path for p in probes], mqtt_port=broker.port, db_path=work / "bench.db")
    site.update(extra)
    (work / "site.yaml").write_text(yaml.safe_dump(site))
    listener = Listener(broker.port)
    daemon = subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(work / "site.yaml")],
                              cwd=REPO)
    load = LoadGenerator([g.fileno() for g in gateways], workers, broker.port, SITE, rate_hz)
    try:
        if listener.wait(lambda t, p: t.endswith("/status") and b"online" in p, 30.0) is None:
            raise RuntimeError("daemon did not start")
        yield ProbedSite(daemon, load, listener, probes)
    finally:
        load.stop()
        terminate(daemon)
        listener.close()
        broker.stop()

"""The daemon on the benchmark site, its background load and its alarm probes, in one place.

bench/alarm_latency.py (load levels), bench/vision.py (cameras or not),
bench/dashboard_load.py (pages or not) and bench/worst_minute.py (all of it)
measure the same thing under different extras: the gas probe
(bench/support/gas_probe.py) while the daemon, as its own processes, carries
the load generator's readings.
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

from bench.support.gas_probe import GasProbes
from bench.support.load import LoadGenerator
from bench.support.panic_probe import Prober
from bench.support.process import terminate
from bench.support.site import bench_site
from edge_runtime.local_broker import LocalBroker
from firmware_bridge.sim.pty import PtyPort

REPO = Path(__file__).resolve().parents[2]
SITE = "bench"


@dataclass
class ProbedSite:
    daemon: subprocess.Popen[bytes]
    load: LoadGenerator  # not started: the caller starts it when its own extras are ready
    prober: Prober
    gas: GasProbes
    broker_port: int
    work: Path

    def probe(self, i: int) -> float | None:
        """One gas alarm on probe port ``i`` (round robin); seconds to the alert, None if lost."""
        return self.gas.probe(i)


@contextmanager
def probed_site(work: Path, *, workers: int, rate_hz: float, probe_timeout_s: float = 2.0,
                extra_topics: tuple[str, ...] = (), **extra: Any) -> Iterator[ProbedSite]:
    """A broker, the daemon (``extra`` site-file sections added) running and online; all stopped after,
    on an exception, Ctrl-C or (inside bench_session) SIGTERM too."""
    work.mkdir(parents=True)
    broker = LocalBroker(workdir=work).start()
    daemon: subprocess.Popen[bytes] | None = None
    prober: Prober | None = None
    load: LoadGenerator | None = None
    try:
        gateways = [PtyPort(work, f"gw{i}") for i in range(2)]
        probes = [PtyPort(work, f"probe{k}") for k in range(4)]
        site = bench_site(workers=workers, gateway_ports=[g.path for g in gateways],
                          probe_ports=[p.path for p in probes], mqtt_port=broker.port, db_path=work / "bench.db")
        site.update(extra)
        (work / "site.yaml").write_text(yaml.safe_dump(site))
        prober = Prober(broker.port, SITE, client_id="bench-prober", extra_topics=extra_topics)
        with (work / "daemon.log").open("ab") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(work / "site.yaml")],
                                      cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        load = LoadGenerator([g.fileno() for g in gateways], workers, broker.port, SITE, rate_hz)
        if prober.wait(lambda t, p: t.endswith("/status") and b"online" in p, 60.0) is None:
            raise RuntimeError(f"daemon did not start: {(work / 'daemon.log').read_text(errors='replace')[-1500:]}")
        yield ProbedSite(daemon, load, prober, GasProbes(prober, probes, probe_timeout_s), broker.port, work)
    finally:
        if load is not None:
            load.stop()
        if daemon is not None:
            terminate(daemon)
        if prober is not None:
            prober.close()
        broker.stop()

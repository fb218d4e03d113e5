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
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.alarm_latency import _pct, _summary  # noqa: E402
from bench.support.probed_site import probed_site  # noqa: E402
from edge_runtime.local_broker import free_port  # noqa: E402

ACCOUNT = "bench"
PASSWORD = "bench-viewer-password"
# argon2id of PASSWORD: the site file holds hashes, never passwords
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$ymJB78FZ/cetkKzDxLJfMw$rONZ5Yb2/1NFuCdMjeVUpt9cE6XGaYcninmKX+f6srs"


# -- the pages: a process of their own ----------------------------------------------------------

def pages_main(base_url: str, clients: int, conn: Connection) -> None:
    """Child process: ``clients`` pages sign in and read the stream until the parent says stop;
    sends ``("ready", connected)`` once every stream said hello, then ``("done", counts)``."""
    asyncio.run(_pages(base_url, clients, conn))


async def _pages(base_url: str, clients: int, conn: Connection) -> None:
    hello = [asyncio.Event() for _ in range(clients)]
    counts: list[dict[str, int]] = [{} for _ in range(clients)]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        # one by one: the daemon counts sign-ins per address as they start (parallel ones look like guessing)
        sessions = [await _sign_in(http, base_url) for _ in range(clients)]
        tasks = [asyncio.create_task(_page(http, base_url, sessions[i], hello[i], counts[i])) for i in range(clients)]
        ready = asyncio.gather(*(h.wait() for h in hello))
        waiting: set[asyncio.Future[Any]] = {ready, *tasks}
        await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)  # all said hello, or one failed
        conn.send(("ready", sum(h.is_set() for h in hello)))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, ready, return_exceptions=True)
    conn.send(("done", counts))


async def _sign_in(http: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
    """A session of its own for one page: its cookies."""
    async with http.post(f"{base_url}/api/v1/session", json={"name": ACCOUNT, "password": PASSWORD}) as r:
        r.raise_for_status()
        return {k: m.value for k, m in r.cookies.items()}


async def _page(http: aiohttp.ClientSession, base_url: str, cookies: dict[str, str], hello: asyncio.Event,
                counts: dict[str, int]) -> None:
    """One page reading the stream as a browser would, counting events by name."""
    async with http.get(f"{base_url}/api/v1/events", cookies=cookies, timeout=aiohttp.ClientTimeout(total=None)) as r:
        r.raise_for_status()
        async for line in r.content:
            if line.startswith(b"event: "):
                name = line[7:].strip().decode()
                counts[name] = counts.get(name, 0) + 1
                if name == "hello":
                    hello.set()


class _CpuMeter:
    """CPU time of the daemon (and the pages' process) from now to :meth:`percent`, as % of one core."""

    def __init__(self, daemon_pid: int, pages_pid: int | None) -> None:
        self._procs = {"daemon": psutil.Process(daemon_pid)}
        if pages_pid is not None:
            self._procs["pages"] = psutil.Process(pages_pid)
        self._t0 = time.perf_counter()
        self._cpu0 = {name: _cpu_s(p) for name, p in self._procs.items()}

    def percent(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t0
        return {name: round(100 * (_cpu_s(p) - self._cpu0[name]) / elapsed, 1) for name, p in self._procs.items()}


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class Pages:
    """The pages' process, from start to their counts."""

    def __init__(self, base_url: str, clients: int) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=pages_main, args=(base_url, clients, child), daemon=True)
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def wait_ready(self, timeout: float = 150.0) -> int:
        if not self._conn.poll(timeout):
            raise RuntimeError("the pages did not connect")
        _, connected = self._conn.recv()
        return int(connected)

    def stop(self) -> list[dict[str, int]]:
        self._conn.send("stop")
        counts: list[dict[str, int]] = self._conn.recv()[1] if self._conn.poll(30) else []
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
        return counts


# -- one run: a daemon, its load, probes, and maybe pages ---------------------------------------

def alarm_latencies(args: argparse.Namespace, tmp: Path, clients: int, tag: str) -> tuple[list[float], dict[str, Any]]:
    """bench/alarm_latency.py's probe under its load, with ``clients`` pages reading the stream."""
    http_port = free_port()
    account = {"name": ACCOUNT, "role": "viewer", "password_hash": PASSWORD_HASH}
    pages: Pages | None = None
    report: dict[str, Any] = {}
    with probed_site(tmp / tag, workers=args.workers, rate_hz=args.rate_hz,
                     http={"host": "127.0.0.1", "port": http_port}, dashboard={"accounts": [account]}) as site:
        try:
            if clients:
                pages = Pages(f"http://127.0.0.1:{http_port}", clients)
                report["connected"] = pages.wait_ready()
            site.load.start()
            time.sleep(args.warmup_s)
            cpu = _CpuMeter(site.daemon.pid, pages.pid if pages is not None else None)
            latencies = []
            for i in range(args.probes):
                if (lat := site.probe(i)) is not None:
                    latencies.append(lat)
                time.sleep(args.probe_gap_s)  # spread over several `workers` pushes, not between two of them
            report["cpu_percent"] = cpu.percent()
            site.load.stop()
            if pages is not None:
                report["counts"] = pages.stop()
                pages = None
            return latencies, report
        finally:
            if pages is not None:
                pages.stop()


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
    for r in range(args.rounds):
        for kind, clients in kinds.items():
            latencies, report = alarm_latencies(args, tmp, clients, f"{kind}{r}")
            pooled[kind] += latencies
            reports[kind].append(report)
    none_p99, with_p99 = _pct(pooled["no_clients"], 0.99), _pct(pooled["with_clients"], 0.99)
    ratio = round(with_p99 / none_p99, 2) if none_p99 and with_p99 else None
    results = {
        "clients": args.clients,
        "clients_connected": min((run.get("connected", 0) for run in reports["with_clients"]), default=0),
        "events_per_client": events_per_client(reports["with_clients"]),
        "cpu_percent_of_a_core": {kind: _mean_cpu(runs) for kind, runs in reports.items()},
        "sensor_alarm": {kind: _summary(values, args.probes * args.rounds) for kind, values in pooled.items()},
        "p99_no_clients_ms": none_p99, "p99_with_clients_ms": with_p99, "p99_ratio": ratio,
        "targets": {"alarm_p99_with_clients<=1.2x": (ratio or 1e9) <= 1.2},
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()

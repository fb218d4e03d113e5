"""CPU and memory of the daemon's whole process tree, sampled in the background during a measurement.

The daemon is several processes (the alarm process, ``sg-store``, ``sg-ingest``,
``sg-cam-*`` camera workers, multiprocessing's resource tracker): each is
named by what it does (edge_runtime.child_process.name_process), so every
sample is kept per role. :meth:`TreeMeter.report` gives each role's CPU (% of
one core over the measurement), its RSS time series, and whether that RSS
stayed flat: within ``FLAT_TOLERANCE`` of its value after the first minute
(or the first fifth of a shorter run). ``under_limit``: the daemon's own
processes (alarm, store, ingest) each under ``RSS_LIMIT_MB``; a camera
worker holds its model runtime and frame buffers and is reported, not held to it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

FLAT_TOLERANCE = 0.10
RSS_LIMIT_MB = 120.0
LIMITED = ("alarm", "store", "ingest")
SETTLE_S = 60.0  # memory is judged against its value this long after the start


def role_of(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "alarm"
    name = proc.name()
    if name.startswith("sg-"):
        return name[3:]
    return "resource_tracker" if "resource_tracker" in " ".join(proc.cmdline()) else name


@dataclass
class _Proc:
    role: str  # as named at its latest sample (a child takes its name a moment after it starts)
    cpu_first: float
    cpu_last: float
    rss: dict[float, float] = field(default_factory=dict)  # seconds since start -> MB


class TreeMeter:
    """``with TreeMeter(pid, interval_s) as meter: ...`` then ``meter.report()``."""

    def __init__(self, root_pid: int, interval_s: float = 5.0) -> None:
        self._root = root_pid
        self._interval = interval_s
        self._procs: dict[int, _Proc] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-meter", daemon=True)
        self._t0 = 0.0
        self._elapsed = 0.0

    def __enter__(self) -> TreeMeter:
        self._t0 = time.perf_counter()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(self._interval + 5)
        self._sample()
        self._elapsed = time.perf_counter() - self._t0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        t = round(time.perf_counter() - self._t0, 1)
        try:
            root = psutil.Process(self._root)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                role = role_of(proc, self._root)
                times = proc.cpu_times()
                cpu = times.user + times.system
                mb = proc.memory_info().rss / 2**20
            except psutil.Error:  # ended between the listing and the reading
                continue
            seen = self._procs.setdefault(proc.pid, _Proc(role, cpu, cpu))
            seen.role, seen.cpu_last = role, cpu
            seen.rss[t] = mb

    def report(self) -> dict[str, Any]:
        elapsed = self._elapsed or (time.perf_counter() - self._t0)
        settle = min(SETTLE_S, elapsed / 5)
        roles: dict[str, list[_Proc]] = {}
        for proc in self._procs.values():
            roles.setdefault(proc.role, []).append(proc)
        out: dict[str, Any] = {}
        for name, procs in sorted(roles.items()):
            cpu = sum(p.cpu_last - p.cpu_first for p in procs)
            times = sorted({t for p in procs for t in p.rss})
            series = [(t, round(sum(p.rss.get(t, 0.0) for p in procs), 1)) for t in times]
            out[name] = {"cpu_percent": round(100 * cpu / elapsed, 1) if elapsed else None,
                         "processes": len(procs), **rss_verdict(series, settle)}
        total_cpu = sum(v["cpu_percent"] or 0 for v in out.values())
        return {"elapsed_s": round(elapsed, 1), "total_cpu_percent": round(total_cpu, 1),
                "flat": all(v["rss_flat"] for v in out.values() if v["rss_flat"] is not None),
                "under_limit": all(out[r]["rss_max_mb"] <= RSS_LIMIT_MB for r in LIMITED if r in out), "processes": out}


def rss_verdict(series: list[tuple[float, float]], settle_s: float) -> dict[str, Any]:
    """Flat: no sample after ``settle_s`` is more than FLAT_TOLERANCE above the first one after it."""
    after = [mb for t, mb in series if t >= settle_s]
    base = after[0] if after else None
    peak = max((mb for _, mb in series), default=0.0)
    growth = round(max(after) / base - 1, 3) if base else None
    return {"rss_mb_after_settle": base, "rss_max_mb": peak, "rss_growth_after_settle": growth,
            "rss_flat": None if growth is None else growth <= FLAT_TOLERANCE, "rss_series": series}

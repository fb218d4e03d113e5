"""The cloud half of the training benchmarks: a throw-away service with an admin token, its training worker as a
child process, the API calls, and the wait for a training job to end with a registered candidate.

Shared by bench/retrain.py's phases ``retrain`` (verdicts -> candidate) and ``loop`` (verdicts -> a model active
on a device, bench/support/rollout_loop.py), so both time the same path the same way.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.support.process import terminate
from bench.support.progress import say
from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.service.launch import Admin, prepare
from cloud_sync.service.settings import ServiceSettings
from models.risk.synthetic import SyntheticSite

ADMIN = Admin("bench-admin", "bench-admin-password")
API = "/api/v1"
POLL_S = 0.25
SAY_EVERY_S = 10.0
WORKER_READY = "training worker:"
WORKER_START_S = 120.0


def admin_service(work: Path) -> tuple[ServiceSettings, str]:
    """A service on a fresh SQLite file and data dir under ``work``, prepared, with an admin API token."""
    settings = ServiceSettings(db_url=f"sqlite:///{work / 'cloud.db'}", data_dir=work / "data", port=0)
    engine = prepare(settings, ADMIN)
    try:
        token = ApiTokens(engine).create("retrain-bench", Role.ADMIN, created_by="bench").token
    finally:
        engine.dispose()
    return settings, token


def split_last_verdicts(site: SyntheticSite, count: int) -> tuple[SyntheticSite, SyntheticSite]:
    """The site without the ``count`` newest verdicts of the edge device with the newest one, and those alone."""
    newest = max(site.verdicts, key=lambda v: v["ts"])["device_id"]
    theirs = sorted((v for v in site.verdicts if v["device_id"] == newest), key=lambda v: v["ts"])
    held = theirs[-count:]
    held_ids = {id(v) for v in held}
    first = replace(site, verdicts=[v for v in site.verdicts if id(v) not in held_ids])
    last = replace(site, verdicts=held, alarms=[], readings={c: v[:0] for c, v in site.readings.items()},
                   site_of={newest: site.site_of[newest]})
    return first, last


async def call(http: aiohttp.ClientSession, token: str, method: str, path: str, body: Any = None, *,
               data: bytes | None = None, content_type: str | None = None) -> tuple[int, Any]:
    """One API call: (status, the JSON body or the text). ``data`` sends raw bytes instead of ``body``."""
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": content_type} if content_type else {})}
    async with http.request(method, API + path, json=None if data is not None else body, data=data,
                            headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


def start_worker(settings: ServiceSettings, log_path: Path) -> subprocess.Popen[bytes]:
    """``siteguard cloud worker`` on the service's database and data dir, checking triggers every second."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "edge_runtime", "cloud", "worker", "--db", settings.db_url,
                                 "--data-dir", str(settings.data_dir), "--tick", "1"],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def await_worker(worker: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + WORKER_START_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}: {log_path.read_text()[-2000:]}")
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith(WORKER_READY):
                return line
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the worker did not start within {WORKER_START_S:.0f} s")


async def armed_worker(http: aiohttp.ClientSession, token: str, settings: ServiceSettings,
                       pipeline: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    """``pipeline`` in place as ``risk`` and the worker started, with three trigger checks behind it and no job
    fired yet: the next verdicts sent are the ones that fire it. The caller stops the worker."""
    status, body = await call(http, token, "PUT", "/training/pipelines/risk", pipeline)
    if status != 200:
        raise RuntimeError(f"PUT /training/pipelines/risk: {status} {body}")
    worker = start_worker(settings, log_path)
    try:
        say(await await_worker(worker, log_path))
        await asyncio.sleep(3.0)  # three trigger checks: none may fire before the last verdicts
        _, listing = await call(http, token, "GET", "/training/jobs?pipeline=risk")
        if listing["jobs"]:
            raise RuntimeError(f"the trigger fired before the last verdicts: {listing['jobs'][0]['reason']}")
    except BaseException:
        terminate(worker)
        raise
    return worker


async def wait_for_job(http: aiohttp.ClientSession, token: str, t0: float,
                       wait_s: float) -> tuple[dict[str, Any], float, float | None]:
    """Polls until the risk pipeline's job ends and, when it is done, the registry shows its candidate:
    (the job, seconds to its end, seconds to the candidate or None)."""
    last_say = 0.0
    job: dict[str, Any] | None = None
    ended_s: float | None = None
    while (elapsed := time.perf_counter() - t0) < wait_s:
        if ended_s is None:
            status, listing = await call(http, token, "GET", "/training/jobs?pipeline=risk&limit=5")
            job = listing["jobs"][0] if status == 200 and listing["jobs"] else None
            if job is not None and job["ended_ts"] is not None:
                ended_s = elapsed
                if job["state"] != "done":
                    return job, ended_s, None
        if job is not None and ended_s is not None:
            status, model = await call(http, token, "GET", "/models/risk")
            aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])} if status == 200 else {}
            if aliases.get("candidate") == job["result"].get("version"):
                return job, ended_s, time.perf_counter() - t0
        if elapsed - last_say >= SAY_EVERY_S / 2:
            last_say = elapsed
            where = (f"job {job['id']} {job['state']} {job['progress']:.0%}: {job['step']}" if job
                     else "no job yet")
            say(f"  {elapsed:5.1f} s after the last verdicts: {where}")
        await asyncio.sleep(POLL_S)
    if job is not None and ended_s is not None:
        raise TimeoutError(f"job {job['id']} is done but no candidate alias within {wait_s:.0f} s")
    raise TimeoutError(f"no finished job within {wait_s:.0f} s of the last verdicts (last seen: {job})")

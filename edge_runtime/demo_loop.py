"""`siteguard demo --loop`: the model loop on one machine, from a supervisor's verdict to a new model on the device.

On top of the demo's cloud (demo_cloud.py) it starts the training worker,
sends a generated site's history through the signed device API (the verdicts
a fleet would have given before: enough to train on), and sets up the risk
pipeline: a label-count trigger the demo's own verdicts reach, and a rollout
of each candidate to the demo device as its canary. The simulated supervisor
(sim/supervisor.py) gives the verdicts; the device's update agent does the
rest by itself. :class:`LoopWatcher` prints each step as the cloud and the
device see it; the console shows the same on its Training and Rollouts pages.
"""
from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from models.risk.synthetic import generate_site

from .demo_cloud import DemoCloud
from .sim.site_history import upload

log = logging.getLogger(__name__)

API = "/api/v1"
HISTORY = {"workers": 10, "hours": 8.0, "seed": 5}  # a generated site: ~100 judged alarms to learn from
LIVE_VERDICTS = 4  # the demo's own verdicts that fire the trigger
EDGE_PROFILE = {"cpu_arch": "x86_64", "accelerator": "none", "memory_mb": 8192, "runtimes": {}}
WATCH_EVERY_S = 2.0
REPORT_INTERVAL_S = 3.0


def pipeline(device_id: str, min_new: int) -> dict[str, Any]:
    """The risk pipeline of the loop: quick to train (two algorithms, one profile), rolled out to the demo device."""
    return {"kind": "risk", "triggers": [{"type": "labels", "min_new": min_new}], "options": {
        "algorithms": ["logistic_regression", "random_forest"], "profiles": ["x86"], "folds": 3,
        "gate_min_segment": 15, "recall_floor": 0.9,
        "rollout": {"target": {"devices": [device_id]}, "canaries": [device_id], "canary_share": 0.0,
                    "shadow_s": 10.0, "watch_s": 15.0, "healthy_period_s": 20.0, "min_confirmed_alarms": 1}}}


async def prepare(cloud: DemoCloud, device_id: str) -> str:
    """Worker, history and pipeline on the demo's cloud (running); returns the admin token the watcher uses."""
    cloud.start_worker()
    token = await asyncio.to_thread(cloud.admin_token)
    site = generate_site("history", **HISTORY)  # type: ignore[arg-type]
    print(f"loop: sending a generated site's history ({len(site.alarms)} alarms, {len(site.verdicts)} verdicts) "
          "to the cloud ...", flush=True)
    async with aiohttp.ClientSession() as http:
        await upload(http, cloud.url, token, site, EDGE_PROFILE)
        body = pipeline(device_id, len(site.verdicts) + LIVE_VERDICTS)
        async with http.put(f"{cloud.url}{API}/training/pipelines/risk", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"PUT the risk pipeline: {answer.status} {await answer.text()}")
    print(f"loop: risk pipeline set: it trains after {LIVE_VERDICTS} more verdicts and rolls its candidate out to "
          f"{device_id}", flush=True)
    return token


@dataclass
class LoopWatcher:
    """Prints the loop's steps once each: the run, the candidate, the rollout, the device's switch, promotion."""

    url: str
    token: str
    device_id: str
    device_status: Callable[[], dict[str, Any]]
    seen: set[str] = field(default_factory=set)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._cloud_steps)
            except (OSError, ValueError) as exc:  # the cloud pulled down (SIGUSR1) or restarting: next round
                log.info("loop watcher: %s", exc)
            self._device_steps()
            await asyncio.sleep(WATCH_EVERY_S)

    def _say(self, key: str, line: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            print(f"loop: {line}", flush=True)

    def _cloud_steps(self) -> None:
        for job in self._get("/training/jobs?pipeline=risk&limit=5").get("jobs", []):
            self._say(f"job-{job['id']}-{job['state']}", f"training job {job['id']} {job['state']}"
                      + (f": {job['error']}" if job.get("error") else ""))
        for rollout in self._get("/rollouts").get("rollouts", []):
            self._say(f"rollout-{rollout['id']}-{rollout['state']}",
                      f"rollout {rollout['id']} of {rollout['model']} {rollout['version']} is {rollout['state']} "
                      f"(canaries {', '.join(rollout['canary_devices'])})")

    def _device_steps(self) -> None:
        slot = self.device_status().get("slots", {}).get("risk") or {}
        active, state = slot.get("active") or {}, slot.get("state")
        if state:
            self._say(f"device-{state}-{active.get('version')}", f"device {self.device_id}: risk slot {state}"
                      + (f", running {active['name']} {active['version']}" if active else ""))

    def _get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{API}{path}", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ValueError(f"GET {path}: {exc.code}") from None

"""bench/retrain.py's ``loop`` phase: from the supervisor's last verdicts to a new risk model active on a real
device, a regressing model undone by that device, and the sensor alarm path while a model is updated.

The parts, all real and all on this machine: ``siteguard cloud serve`` and ``siteguard cloud worker --tick 1``
as child processes (a throw-away SQLite data dir, the bench's throw-away signing key, devices told to report
every second), a local Mosquitto, background wearable telemetry (``RETRAIN_BENCH_LOOP_RATE`` messages/s, its
own process), and ``python -m edge_runtime run`` as a child process (bench/support/edge_daemon.py): registered
as device ``bench-edge`` of site ``bench``, syncing, its update agent polling the desired state every
``RETRAIN_BENCH_LOOP_POLL_S`` (1 s), downloads capped at ``RETRAIN_BENCH_LOOP_BANDWIDTH_MB_S`` (4 MB/s),
trusting only the bench key. Its risk slot is read from its ``/readyz`` over HTTP every 0.1 s
(bench/support/device_watch.py); panic probes (bench/support/panic_probe.py) time press -> worker alert over MQTT.

1. ``verdict_to_active_s`` (target <= 120 s): the generated site's history goes up without its last verdicts
   (as in the ``retrain`` phase); the risk pipeline has the labels trigger and a ``rollout`` option whose canary
   and only target is ``bench-edge`` (shadow ``RETRAIN_BENCH_LOOP_SHADOW_S``, watch 3 s, no healthy period,
   no confirmed alarm needed), training ``RETRAIN_BENCH_LOOP_ALGORITHMS`` (``logistic_regression``; phase 1
   trains all four). With all four, the gate's verdict on this site is a coin toss: the held-out split has
   13 confirmed alarms, the winner is chosen on accuracy and on latencies measured on this busy machine
   (two candidates were 0.000 apart), and runs caught 12 (passed) or 11 (refused at the 0.95 floor); on
   accuracy alone the winner is refused every time, and a lower floor only raises the threshold (a run
   at 0.9 caught 10, at 0.8 7). Logistic regression catches 12 every time. So the training part here is
   shorter than phase 1's (its ``verdict_to_candidate_s`` is the four-algorithm figure; ``job_timings``
   below show this one's). The clock starts when
   the last verdicts are sent and stops when the daemon's
   ``/readyz`` first shows the job's version as the risk slot's active model. It is the device's first risk
   model, so the device skips the shadow run (nothing to compare with); step 3 measures the path with one.
   Reported beside it: the job's timings, when the rollout was created, when the device was first seen
   downloading and verifying, when it committed the switch (its ``since_ts``) and when the cloud first
   saw it active.
2. ``regression_to_rollback_s`` (target <= 60 s): the same model re-versioned (bench/support/risk_variant.py)
   is rolled out with ``latency_budget_ms`` 0.001 and no shadow run, while panic probes raise alarms every
   0.2 s for it to score: every scoring is over budget, so the device's health watch sees the regression as
   soon as five alarms are scored since the switch. The figure runs from the switch (the device's
   ``since_ts`` of the new version: from then on the regressing model serves, so the regression signal
   exists from then) to the first ``/readyz`` that shows the previous version active again with the slot
   ``rolled_back``. Reported beside it: the device's own switch -> rollback time (its rollback commit's
   ``since_ts``), the reason, whether the cloud halted the rollout and how long after the rollback.
3. ``alarm_p99_update_vs_idle`` (target <= 1.2): panic probes one after another (``RETRAIN_BENCH_LOOP_PROBE_GAP_S``
   apart) against the daemon. Idle: ``RETRAIN_BENCH_LOOP_PROBES`` probes with the model of step 1 active and
   nothing being updated. Update: every probe pressed from the moment a rollout of a large variant (a
   ``RETRAIN_BENCH_LOOP_PADDING_MB`` MB extra artifact, so the capped download lasts seconds) is created until
   1 s after the device shows it active: download, verification, shadow run (the device scores every
   rostered worker's window with both models every 2 s) and switch. The figure is p99(update) / p99(idle)
   of the answered probes; lost ones (no alert within 2 s) are counted beside them.

Each step's failure leaves its figure null with ``error``; a later step that needs it is not run. Every wait
is bounded; every process started here is stopped on the way out (one ExitStack, in ``loop_phase``).
"""
from __future__ import annotations

import asyncio
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.support.device_watch import DeviceWatch
from bench.support.edge_daemon import free_port, register_device, start_daemon, write_site
from bench.support.mqtt_load import TelemetryLoad
from bench.support.panic_probe import PanicProbes, Prober
from bench.support.panic_site import PROBE_PAIRS, SITE, WEARABLES, _ready
from bench.support.probe_loop import ProbeLoop
from bench.support.process import terminate
from bench.support.progress import say
from bench.support.risk_variant import build_variant, register_variant
from bench.support.stats import pct, summary
from bench.support.training_cloud import admin_service, armed_worker, call, split_last_verdicts, wait_for_job
from cloud_sync.contract.rollout import REPORT_INTERVAL_ENV
from cloud_sync.model_registry.config import RegistryConfig
from cloud_sync.service.launch import CloudProcess
from cloud_sync.service.settings import ServiceSettings
from edge_runtime.local_broker import LocalBroker
from edge_runtime.sim.site_history import upload
from models.risk.synthetic import SyntheticSite
from models.signing import public_key, signing_key

DEVICE = "bench-edge"
DEVICE_TYPE = "bench-gw"
PROFILE = {"cpu_arch": "x86_64", "accelerator": "none", "memory_mb": 8192, "runtimes": {"onnxruntime": "1.20.0"}}


def _env(name: str, default: float) -> float:
    """A ``RETRAIN_BENCH_LOOP_*`` setting (see the module docstring)."""
    return float(os.environ.get(f"RETRAIN_BENCH_LOOP_{name}", str(default)))


IDLE_PROBES = int(_env("PROBES", 400))
PROBE_GAP_S = _env("PROBE_GAP_S", 0.05)
PADDING_MB = _env("PADDING_MB", 32)
BANDWIDTH_MB_S = _env("BANDWIDTH_MB_S", 4)  # 0: uncapped
SHADOW_S = _env("SHADOW_S", 15)
POLL_S = _env("POLL_S", 1)
RATE = _env("RATE", 50)
ALGORITHMS = os.environ.get("RETRAIN_BENCH_LOOP_ALGORITHMS", "logistic_regression").split(",")
WATCH_S = 3.0
TINY_BUDGET_MS = 0.001
REGRESSION_PROBE_GAP_S = 0.2
ACTIVE_WAIT_S = 180.0  # job done -> version active on the device, at most
STEP_WAIT_S = 90.0  # any other device or rollout wait, at most
AFTER_SWITCH_S = 1.0
TARGETS = {"verdict_to_active_s": 120.0, "regression_to_rollback_s": 60.0, "alarm_p99_update_vs_idle": 1.2}
STEPS = {"verdict_to_active": "verdict_to_active_s", "regression_to_rollback": "regression_to_rollback_s",
         "alarm_during_update": "alarm_p99_update_vs_idle"}
"""Each step's name (its details in the output) -> the figure it measures."""


@dataclass(frozen=True)
class LoopInputs:
    """What the loop shares with the ``retrain`` phase: the site, its last batch and the pipeline's options."""

    site: SyntheticSite
    last_verdicts: int
    profiles: list[str]
    history_profile: dict[str, Any]  # the generated site's devices'
    wait_s: float  # last verdicts -> job done, at most


@dataclass
class Loop:
    """The running parts, as the steps use them."""

    http: aiohttp.ClientSession
    url: str
    token: str
    settings: ServiceSettings
    watch: DeviceWatch
    probes: PanicProbes
    work: Path
    stack: ExitStack
    model: str = ""
    version: str = ""  # the device's active risk version after the last step
    wall0: float = 0.0

    def after(self, ts: float | None) -> float | None:
        return None if ts is None else round(ts - self.wall0, 3)


def loop_phase(work: Path, inputs: LoopInputs) -> dict[str, Any]:
    """The three figures and their details; each figure None with its step's ``error`` when it failed."""
    settings, token = admin_service(work)
    previous = os.environ.get(REPORT_INTERVAL_ENV)
    os.environ[REPORT_INTERVAL_ENV] = "1"  # read by the service at start: devices report every second
    try:
        with ExitStack() as stack:
            (work / "mosquitto").mkdir()
            broker = LocalBroker(workdir=work / "mosquitto").start()
            stack.callback(broker.stop)
            load = TelemetryLoad(broker.port, SITE, [f"wb{i:03d}" for i in range(WEARABLES)], RATE)
            load.start()  # forks: before any thread of this process starts
            stack.callback(load.stop)
            url = stack.enter_context(CloudProcess(settings, log_path=work / "cloud.log"))
            say(f"cloud at {url}, broker on {broker.port}")
            return asyncio.run(_run(url, token, settings, broker.port, work, stack, inputs))
    finally:
        if previous is None:
            os.environ.pop(REPORT_INTERVAL_ENV, None)
        else:
            os.environ[REPORT_INTERVAL_ENV] = previous


async def _run(url: str, token: str, settings: ServiceSettings, broker_port: int, work: Path, stack: ExitStack,
               inputs: LoopInputs) -> dict[str, Any]:
    out: dict[str, Any] = {name: None for name in TARGETS}
    out["settings"] = {"poll_s": POLL_S, "report_interval_s": 1.0, "bandwidth_mb_s": BANDWIDTH_MB_S,
                       "telemetry_per_s": RATE, "shadow_s": SHADOW_S, "watch_s": WATCH_S,
                       "idle_probes": IDLE_PROBES, "probe_gap_s": PROBE_GAP_S, "padding_mb": PADDING_MB,
                       "algorithms": ALGORITHMS}
    async with aiohttp.ClientSession(url) as http:
        credential = work / "edge.credential"
        await register_device(http, token, DEVICE, DEVICE_TYPE, PROFILE, credential)
        http_port = free_port()
        edge = work / "edge"
        edge.mkdir()
        site_file = write_site(edge, device_id=DEVICE, broker_port=broker_port, http_port=http_port, cloud_url=url,
                               credential_file=credential, public_key=public_key(signing_key()), poll_s=POLL_S,
                               bandwidth_bytes_per_s=int(BANDWIDTH_MB_S * 2**20) if BANDWIDTH_MB_S > 0 else None)
        daemon = start_daemon(site_file, edge / "daemon.log")
        stack.callback(terminate, daemon)
        prober = Prober(broker_port, SITE, client_id="bench-loop-prober")
        stack.callback(prober.close)
        probes = PanicProbes(prober, PROBE_PAIRS)
        if not await asyncio.to_thread(_ready, probes, 90.0):
            raise RuntimeError(f"the daemon never answered a probe: {_tail(edge / 'daemon.log')}")
        say(f"daemon {DEVICE} answers probes; its /readyz on {http_port}")
        async with DeviceWatch(f"http://127.0.0.1:{http_port}") as watch:
            loop = Loop(http, url, token, settings, watch, probes, work, stack)
            steps = {"verdict_to_active": _verdict_to_active, "regression_to_rollback": _regression,
                     "alarm_during_update": _alarm_p99}
            failed: str | None = None
            for name, step in steps.items():
                if failed is not None:
                    out[name] = {"error": f"not run: {failed} failed"}
                    continue
                say(f"-- loop: {name}")
                try:
                    out[name] = await step(loop, inputs)
                except Exception as exc:  # noqa: BLE001 - reported in the JSON line, the next steps skipped
                    out[name] = {"error": f"{type(exc).__name__}: {exc}", "device_changes": _changes(loop)}
                if "error" in out[name]:
                    failed = name
                figure = STEPS[name]
                out[figure] = out[name].get(figure)
                if out[figure] is None and "error" not in out[name]:
                    out[name]["error"] = f"no {figure} measured"
                say(f"   {figure}: {out[figure]}")
    out["readyz_failures"] = watch.errors
    out["daemon_log_tail"] = _tail(edge / "daemon.log") if any("error" in out[n] for n in STEPS) else None
    return out


# ----------------------------------------------------------------------------- 1. verdicts -> active on the device

async def _verdict_to_active(loop: Loop, inputs: LoopInputs) -> dict[str, Any]:
    http, token, site = loop.http, loop.token, inputs.site
    first, last = split_last_verdicts(site, inputs.last_verdicts)
    fleet = await upload(http, loop.url, token, first, inputs.history_profile)
    say(f"history without its last {len(last.verdicts)} verdicts sent")
    plan = _plan(shadow_s=SHADOW_S, watch_s=WATCH_S, healthy_period_s=0.0, min_confirmed_alarms=0)
    pipeline = {"kind": "risk", "options": {"algorithms": ALGORITHMS, "profiles": inputs.profiles, "rollout": plan},
                "triggers": [{"type": "labels", "min_new": len(site.verdicts)}]}
    worker = await armed_worker(http, token, loop.settings, pipeline, loop.work / "worker.log")
    loop.stack.callback(terminate, worker)
    try:
        say(f"sending the last {len(last.verdicts)} verdicts; the clock runs")
        t0, loop.wall0 = time.perf_counter(), time.time()
        await upload(http, loop.url, token, last, inputs.history_profile, fleet)
        job, ended_s, candidate_s = await wait_for_job(http, token, t0, inputs.wait_s)
    finally:
        terminate(worker)  # its work is done: the later steps measure the device, not a busy trainer
    if job["state"] != "done":
        raise RuntimeError(f"job {job['id']} {job['state']}: {job['error']}")
    loop.model, version = job["result"]["model"], job["result"]["version"]
    rollout_id = (job.get("metrics") or {}).get("rollout", {}).get("id")
    if rollout_id is None:
        raise RuntimeError(f"the run started no rollout: {(job.get('metrics') or {}).get('rollout')}")
    say(f"job {job['id']} done: {loop.model} {version}, rollout {rollout_id}; waiting for the device")
    active = await loop.watch.until(lambda v: v.active == version, ACTIVE_WAIT_S)
    if active is None:
        raise TimeoutError(f"{version} not active on the device within {ACTIVE_WAIT_S:.0f} s of the job's end")
    loop.version = version
    rollout = await _rollout(loop, rollout_id)
    device = next((d for d in rollout["devices"] if d["device_id"] == DEVICE), {})
    downloading = loop.watch.first(lambda v: v.target == version and v.state == "downloading", loop.wall0)
    verifying = loop.watch.first(lambda v: v.target == version and v.state == "verifying", loop.wall0)
    out: dict[str, Any] = {
        "verdict_to_active_s": loop.after(active.seen_ts),
        "definition": "last verdicts sent -> the daemon's /readyz first shows the new risk version active",
        "model": loop.model, "version": version, "rollout_id": rollout_id, "job_id": job["id"],
        "verdict_to_candidate_s": None if candidate_s is None else round(candidate_s, 2),
        "after_last_verdicts_s": {
            "job_created": loop.after(job["created_ts"]), "job_started": loop.after(job["started_ts"]),
            "rollout_created": loop.after(rollout["created_ts"]), "job_ended": loop.after(job["ended_ts"]),
            "job_end_seen": round(ended_s, 2),
            "device_downloading_seen": loop.after(downloading.seen_ts if downloading else None),
            "device_verifying_seen": loop.after(verifying.seen_ts if verifying else None),
            "device_switched": loop.after(active.since_ts), "device_active_seen": loop.after(active.seen_ts),
            "cloud_saw_active": loop.after(device.get("activated_ts"))},
        "job_timings": job["timings"], "shadow_run": "skipped by the device: no risk model was active before",
    }
    try:
        out["rollout_state"] = await _complete(loop, rollout_id)
    except TimeoutError as exc:  # measured; but the next rollout of the slot would be refused
        out["error"] = str(exc)
    return out


# ----------------------------------------------------------------------------- 2. regression -> rollback

async def _regression(loop: Loop, _inputs: LoopInputs) -> dict[str, Any]:
    good = loop.version
    bad = await _variant(loop, "regressing", 0)
    plan = _plan(shadow_s=0.0, watch_s=60.0, healthy_period_s=600.0, min_confirmed_alarms=1,
                 latency_budget_ms=TINY_BUDGET_MS)
    with ProbeLoop(loop.probes, REGRESSION_PROBE_GAP_S) as probes:  # alarms for the new model to score
        rollout_id = await _start_rollout(loop, bad, plan)
        switched = await loop.watch.until(lambda v: v.active == bad, STEP_WAIT_S)
        if switched is None:
            raise TimeoutError(f"{bad} never active on the device within {STEP_WAIT_S:.0f} s")
        say(f"{bad} switched in; waiting for the device to roll it back")
        back = await loop.watch.until(lambda v: v.active == good and v.state == "rolled_back", STEP_WAIT_S)
    if back is None:
        raise TimeoutError(f"the device did not roll {bad} back within {STEP_WAIT_S:.0f} s of the switch")
    halted = await _until_rollout(loop, rollout_id, {"halted"}, STEP_WAIT_S / 3)
    halted_seen = time.time() if halted else None
    assert switched.since_ts is not None
    loop.wall0 = switched.since_ts
    latencies = probes.window(switched.since_ts, back.seen_ts)
    return {
        "regression_to_rollback_s": loop.after(back.seen_ts),
        "definition": "the device's switch to the regressing version (its since_ts: from then it serves every "
                      "alarm's score over the latency budget) -> the daemon's /readyz first shows the previous "
                      "version active again with the slot rolled_back",
        "device_switch_to_rollback_s": loop.after(back.since_ts), "version": bad, "rollout_id": rollout_id,
        "regression": f"latency_budget_ms {TINY_BUDGET_MS} (every scoring is over it; the watch needs 5 scored "
                      f"alarms since the switch, probes raise one every {REGRESSION_PROBE_GAP_S} s)",
        "reason": back.reason, "rollout_halted": bool(halted),
        "halted_seen_after_rollback_s": None if halted_seen is None else round(halted_seen - back.seen_ts, 2),
        "alarms_meanwhile": {"pressed": len(latencies), "lost": sum(lat is None for lat in latencies)},
    }


# ----------------------------------------------------------------------------- 3. alarm path while updating

async def _alarm_p99(loop: Loop, _inputs: LoopInputs) -> dict[str, Any]:
    large = await _variant(loop, "large", int(PADDING_MB * 2**20))
    plan = _plan(shadow_s=SHADOW_S, watch_s=WATCH_S, healthy_period_s=0.0, min_confirmed_alarms=0)
    await asyncio.sleep(2.0)  # the rollback's own work settles before the idle window
    bytes_before = loop.watch.updates.get("bytes_downloaded") or 0
    idle_start = time.time()
    with ProbeLoop(loop.probes, PROBE_GAP_S) as probes:
        deadline = time.monotonic() + IDLE_PROBES * (PROBE_GAP_S + loop.probes.timeout_s) + 10
        while probes.count() < IDLE_PROBES and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        update_start = time.time()
        rollout_id = await _start_rollout(loop, large, plan)
        active = await loop.watch.until(lambda v: v.active == large, STEP_WAIT_S + SHADOW_S)
        if active is not None:
            await asyncio.sleep(AFTER_SWITCH_S)
        update_end = time.time()
    if active is None:
        raise TimeoutError(f"{large} not active on the device within {STEP_WAIT_S + SHADOW_S:.0f} s")
    loop.version = large
    idle = probes.window(idle_start, update_start)
    during = probes.window(update_start, update_end)
    idle_ok = [lat for lat in idle if lat is not None]
    during_ok = [lat for lat in during if lat is not None]
    p99_idle, p99_during = pct(idle_ok, 0.99), pct(during_ok, 0.99)
    loop.wall0 = update_start
    seen = {state: loop.watch.first(lambda v, s=state: v.target == large and v.state == s, update_start)
            for state in ("downloading", "verifying", "shadow")}
    return {
        "alarm_p99_update_vs_idle": _ratio(p99_during, p99_idle),
        "definition": "p99 of panic press -> worker alert over MQTT, probes pressed from the rollout's creation "
                      f"to {AFTER_SWITCH_S:g} s after the device showed the new version active (download, "
                      "verification, shadow run, switch), over p99 of the probes just before with nothing updating",
        "idle": summary(idle_ok, len(idle)), "update": summary(during_ok, len(during)),
        "p50_update_vs_idle": _ratio(pct(during_ok, 0.5), pct(idle_ok, 0.5)),
        "version": large, "rollout_id": rollout_id,
        "package_bytes_downloaded": (loop.watch.updates.get("bytes_downloaded") or 0) - bytes_before,
        "update_after_rollout_created_s": {
            **{f"{state}_seen": loop.after(v.seen_ts if v else None) for state, v in seen.items()},
            "switched": loop.after(active.since_ts), "active_seen": loop.after(active.seen_ts)},
        "rollout_to_active_with_shadow_s": loop.after(active.seen_ts),
    }


# ----------------------------------------------------------------------------- helpers

def _plan(**fields: Any) -> dict[str, Any]:
    """A rollout to the daemon alone, canary first."""
    return {"target": {"devices": [DEVICE]}, "canaries": [DEVICE], "canary_share": 0.0, **fields}


async def _variant(loop: Loop, suffix: str, padding_bytes: int) -> str:
    """A new version of the active risk model, registered (see bench/support/risk_variant.py)."""
    version = f"{loop.version}-{suffix}"[-64:]
    store = RegistryConfig.from_env(loop.settings.data_dir).store_dir
    archive = await asyncio.to_thread(build_variant, store / loop.model / loop.version, loop.work / "variants",
                                      version, padding_bytes, signing_key())
    await register_variant(loop.http, loop.token, archive)
    say(f"registered {loop.model} {version} ({archive.stat().st_size / 2**20:.1f} MB archive)")
    return version


async def _start_rollout(loop: Loop, version: str, plan: dict[str, Any]) -> str:
    status, body = await call(loop.http, loop.token, "POST", "/rollouts",
                              {"slot": "risk", "model": loop.model, "version": version, **plan})
    if status != 201:
        raise RuntimeError(f"POST /rollouts ({version}): {status} {body}")
    return str(body["id"])


async def _rollout(loop: Loop, rollout_id: str) -> dict[str, Any]:
    status, body = await call(loop.http, loop.token, "GET", f"/rollouts/{rollout_id}")
    if status != 200:
        raise RuntimeError(f"GET /rollouts/{rollout_id}: {status} {body}")
    return body


async def _until_rollout(loop: Loop, rollout_id: str, states: set[str], timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rollout = await _rollout(loop, rollout_id)
        if rollout["state"] in states:
            return rollout
        await asyncio.sleep(0.25)
    return None


async def _complete(loop: Loop, rollout_id: str) -> str:
    """The first rollout out of the live states (a later rollout of the slot may not start while it is live):
    completed by itself (no healthy period, no confirmed alarm needed), else promoted by hand."""
    done = await _until_rollout(loop, rollout_id, {"completed"}, 20.0)
    if done is None:
        await call(loop.http, loop.token, "POST", f"/rollouts/{rollout_id}/promote", {"reason": "bench"})
        done = await _until_rollout(loop, rollout_id, {"completed"}, 20.0)
    if done is None:
        raise TimeoutError(f"rollout {rollout_id} not completed: {(await _rollout(loop, rollout_id))['state']}")
    return str(done["state"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _changes(loop: Loop) -> list[dict[str, Any]]:
    """The slot's last changes as seen, for a failed step's report."""
    return [{"seen_after_s": loop.after(v.seen_ts), "state": v.state, "active": v.active, "target": v.target,
             "reason": v.reason} for v in loop.watch.changes[-12:]]


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


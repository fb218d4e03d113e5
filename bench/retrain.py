"""The trainer (#11) on the real parts: from a supervisor's last verdicts to a gated, signed candidate in the
model registry; what fitting each candidate algorithm costs; how good the default models are on held-out data.

1. ``verdict_to_candidate_s`` (target <= 60 s for the risk model): ``siteguard cloud serve`` and
   ``siteguard cloud worker --tick 1`` run as child processes on a throw-away SQLite data dir, with a throw-away
   ``SITEGUARD_SIGNING_KEY``. A generated site (``RETRAIN_BENCH_WORKERS`` workers x ``RETRAIN_BENCH_HOURS`` h,
   :func:`models.risk.synthetic.generate_site`) goes through the signed device API
   (:mod:`edge_runtime.sim.site_history`) without its last batch of verdicts (``RETRAIN_BENCH_LAST_VERDICTS``,
   the newest ones of one edge device). A ``risk`` pipeline (``PUT /api/v1/training/pipelines/risk``: all four
   algorithms, profiles x86 and pi5) has a labels trigger whose ``min_new`` is every verdict of the site, so
   only the last batch reaches it. The clock starts when that batch is sent and stops when
   ``GET /api/v1/training/jobs`` shows the job done and ``GET /api/v1/models/risk`` its ``candidate`` alias.
   Reported beside it: the job's own step timings, when it was queued and started, the gate's and the
   recommendation's outcome, and ``verdict_to_job_end_s`` whatever the outcome. The site's seed
   (``RETRAIN_BENCH_SEED``, 0: the generator's default) decides the data, so the gate too: at the default
   size seed 3's held-out split has 14 confirmed alarms, 12 caught, and the recall floor refuses the
   candidate (reported with the reason in ``error``, ``verdict_to_candidate_s`` null).
2. ``training_s_per_100k_rows``: each algorithm's fit (default :class:`PipelineOptions`) on
   ``RETRAIN_BENCH_ROWS`` rows (100,000), scaled to 100,000. The rows are bootstrap resamples of the labelled
   examples of generated sites (a site gives ~100), each feature with Gaussian noise of 5 % of its standard
   deviation (missing values stay missing). Each fit runs in a child process of its own, bounded by what is
   left of ``RETRAIN_BENCH_BUDGET_S`` (570 s from the start); one still running then is stopped and reported
   null.
3. ``default_models``: the shipped camera model's held-out scores from its signed manifest (measured on its
   held-out test split when it was trained; the signature and hashes are verified here, nothing re-run);
   and the default risk pipeline (:class:`RiskOptions` defaults, profiles x86 and pi5) trained by the risk
   kind's own training step (cross-validated candidates, measured artifact cost, recommendation) on
   ``RETRAIN_BENCH_TRAIN_SITES`` (3) seeded generated sites, scored on a generated site of another seed:
   average precision, ROC AUC, and recall and precision at the threshold it ships with.

4. ``verdict_to_active_s`` (target <= 120 s), ``regression_to_rollback_s`` (target <= 60 s) and
   ``alarm_p99_update_vs_idle`` (target <= 1.2): the closed loop on a real edge daemon, from the last verdicts
   to the new risk model active on the device, a regressing model rolled back by the device, and the sensor
   alarm path's p99 while a model is downloaded, shadow-run and switched in, over its p99 idle. Its own
   cloud, worker, broker and daemon; the same generated site and last batch as phase 1. Defined, step by
   step, in bench/support/rollout_loop.py (its ``RETRAIN_BENCH_LOOP_*`` settings too).

``RETRAIN_BENCH_PHASES`` (``retrain,default,fit,loop``) picks the phases. Progress on stderr, ONE JSON object on
the last stdout line (with ``error`` when a phase failed); every child process is stopped on the way out.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's converter logs (here and in the worker) go quiet

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.process import terminate  # noqa: E402
from bench.support.rollout_loop import STEPS as LOOP_STEPS  # noqa: E402
from bench.support.rollout_loop import TARGETS as LOOP_TARGETS  # noqa: E402
from bench.support.rollout_loop import LoopInputs, loop_phase  # noqa: E402
from bench.support.progress import say  # noqa: E402
from bench.support.training_cloud import (admin_service, armed_worker, call, split_last_verdicts,  # noqa: E402
                                          wait_for_job)
from cloud_sync.db.engine import make_engine  # noqa: E402
from cloud_sync.model_registry.config import read_trusted_keys  # noqa: E402
from cloud_sync.service.launch import CloudProcess  # noqa: E402
from cloud_sync.service.settings import ServiceSettings  # noqa: E402
from cloud_sync.training.context import LogLine, RunContext  # noqa: E402
from edge_runtime.sim.site_history import upload  # noqa: E402
from models.package import load_package  # noqa: E402
from models.risk.examples import Examples, alarm_examples  # noqa: E402
from models.risk.pipeline import ALGORITHMS, PipelineOptions, fit_pipeline  # noqa: E402
from models.risk.synthetic import SyntheticSite, generate_site  # noqa: E402
from models.signing import KEY_ENV, PUBLIC_KEY_FILE  # noqa: E402

WORKERS = int(os.environ.get("RETRAIN_BENCH_WORKERS", "12"))
HOURS = float(os.environ.get("RETRAIN_BENCH_HOURS", "8"))
ROWS = int(os.environ.get("RETRAIN_BENCH_ROWS", "100000"))
LAST_VERDICTS = int(os.environ.get("RETRAIN_BENCH_LAST_VERDICTS", "10"))
TRAIN_SITES = int(os.environ.get("RETRAIN_BENCH_TRAIN_SITES", "3"))
SEED = int(os.environ.get("RETRAIN_BENCH_SEED", "0"))
BUDGET_S = float(os.environ.get("RETRAIN_BENCH_BUDGET_S", "570"))
WAIT_S = float(os.environ.get("RETRAIN_BENCH_WAIT_S", "300"))  # verdicts -> candidate, at most
PHASES = set(os.environ.get("RETRAIN_BENCH_PHASES", "retrain,default,fit,loop").split(","))
TARGET_S = 60.0
PROFILES = ["x86", "pi5"]
EDGE_PROFILE = {"cpu_arch": "aarch64", "accelerator": "none", "memory_mb": 8192, "runtimes": {}}
CAMERA_MODEL = REPO / "models" / "camera" / "default"
NOISE = 0.05  # of each feature's standard deviation, on the bootstrapped rows
METRICS_LINE = "metrics: "
SAY_EVERY_S = 10.0


def examples_of(site: SyntheticSite) -> Examples:
    """The alarm-real examples of a site, as the risk kind's preprocessing builds them from the synced rows."""
    return alarm_examples(site.alarms, site.verdicts, site.readings, site.roster, site.site_of)


# ----------------------------------------------------------------------------- 1. verdicts -> candidate

async def retrain_run(url: str, token: str, site: SyntheticSite, settings: ServiceSettings,
                      worker_log: Path) -> dict[str, Any]:
    first, last = split_last_verdicts(site, LAST_VERDICTS)
    out: dict[str, Any] = {"site": {"workers": WORKERS, "hours": HOURS, "readings": int(len(site.readings["ts"])),
                                    "alarms": len(site.alarms), "verdicts": len(site.verdicts),
                                    "last_batch_verdicts": len(last.verdicts)}}
    async with aiohttp.ClientSession(url) as http:
        began = time.perf_counter()
        fleet = await upload(http, url, token, first, EDGE_PROFILE)
        out["history_upload_s"] = round(time.perf_counter() - began, 2)
        say(f"history without its last {len(last.verdicts)} verdicts sent in {out['history_upload_s']} s")
        pipeline = {"kind": "risk", "options": {"algorithms": list(ALGORITHMS), "profiles": PROFILES},
                    "triggers": [{"type": "labels", "min_new": len(site.verdicts)}]}
        out["pipeline"] = pipeline
        worker = await armed_worker(http, token, settings, pipeline, worker_log)
        try:
            say(f"sending the last {len(last.verdicts)} verdicts; the clock runs")
            t0, wall0 = time.perf_counter(), time.time()
            await upload(http, url, token, last, EDGE_PROFILE, fleet)
            out["last_batch_sent_s"] = round(time.perf_counter() - t0, 3)
            job, ended_s, candidate_s = await wait_for_job(http, token, t0, WAIT_S)
            lines: list[str] = []
            if job["state"] != "done":
                _, logs = await call(http, token, "GET", f"/training/jobs/{job['id']}/logs?limit=10000")
                lines = [line["line"] for line in logs.get("lines", [])] if isinstance(logs, dict) else []
                out["error"] = f"job {job['id']} {job['state']}: {job['error']}"
        finally:
            terminate(worker)
    out["verdict_to_candidate_s"] = None if candidate_s is None else round(candidate_s, 2)
    out["verdict_to_job_end_s"] = round(ended_s, 2)
    out["candidate_version"] = job["result"].get("version")
    out["job"] = {k: job[k] for k in ("id", "state", "trigger", "reason", "attempt", "duration_s", "timings")}
    out["job"].update({f"{k}_after_s": None if job[f"{k}_ts"] is None else round(job[f"{k}_ts"] - wall0, 2)
                       for k in ("created", "started", "ended")})
    metrics = job["metrics"] or logged_metrics(lines)
    out["examples"] = {k: metrics.get(k) for k in ("examples", "train", "holdout", "confirmed", "false_alarms")}
    out["gate"] = metrics.get("gate")
    out["recommendation"] = {p: {"winner": r["winner"], "why": r["why"]}
                             for p, r in metrics.get("recommendation", {}).items()}
    out["algorithm"] = metrics.get("algorithm")
    out["candidates"] = metrics.get("candidates")
    out["compat"] = {p: {k: r.get(k) for k in ("passed", "qps", "p99_ms")}
                     for p, r in metrics.get("compat", {}).items()}
    return out


def logged_metrics(lines: list[str]) -> dict[str, Any]:
    """A refused job's metrics: the runner logs them beside the reason (the job record keeps a done run's)."""
    for line in reversed(lines):
        if line.startswith(METRICS_LINE):
            try:
                return json.loads(line[len(METRICS_LINE):])
            except ValueError:  # cut short at the log line's length limit
                return {}
    return {}


def retrain_phase(work: Path) -> dict[str, Any]:
    settings, token = admin_service(work)
    site = generate_site("bench-site", seed=SEED, workers=WORKERS, hours=HOURS)
    say(f"generated site: {len(site.readings['ts']):,} readings, {len(site.alarms)} alarms, "
        f"{len(site.verdicts)} verdicts")
    with CloudProcess(settings, log_path=work / "cloud.log") as url:
        say(f"cloud at {url}")
        return asyncio.run(retrain_run(url, token, site, settings, work / "worker.log"))


# ----------------------------------------------------------------------------- 2. fit cost per algorithm

def bootstrap_rows(examples: Examples, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` resampled examples, each feature jittered by NOISE x its standard deviation (NaN stays NaN)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(examples), rows)
    std = np.nan_to_num(np.nanstd(examples.X.astype(np.float64), axis=0))
    X = examples.X[index].astype(np.float64) + rng.normal(0.0, 1.0, (rows, examples.X.shape[1])) * NOISE * std
    return X.astype(np.float32), examples.y[index]


def _fit_child(x_path: str, y_path: str, algorithm: str, conn: Connection) -> None:
    """In a child process: the fit alone is timed (loading the rows is not)."""
    X, y = np.load(x_path), np.load(y_path)
    began = time.perf_counter()
    model = fit_pipeline(PipelineOptions(), algorithm, 0, X, y)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    n_iter = getattr(model.named_steps["model"], "n_iter_", None)
    conn.send((seconds, None if n_iter is None else int(np.max(n_iter))))
    conn.close()


def timed_fit(x_path: Path, y_path: Path, algorithm: str, timeout_s: float) -> tuple[float, int | None]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_fit_child, args=(str(x_path), str(y_path), algorithm, send), daemon=True)
    child.start()
    send.close()
    began = time.monotonic()
    try:
        while not receive.poll(min(SAY_EVERY_S, max(0.0, timeout_s - (time.monotonic() - began)))):
            if not child.is_alive():
                raise RuntimeError(f"the {algorithm} fit exited with {child.exitcode} before it answered")
            if time.monotonic() - began >= timeout_s:
                raise TimeoutError(f"{algorithm} did not fit within {timeout_s:.0f} s (the bench's budget)")
            say(f"  {algorithm}: fitting for {time.monotonic() - began:.0f} s")
        return receive.recv()
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
            child.join(5)
        if child.is_alive():
            child.kill()
        child.join(5)


def fit_phase(examples: Examples, work: Path, deadline: float) -> dict[str, Any]:
    X, y = bootstrap_rows(examples, ROWS, SEED)
    x_path, y_path = work / "X.npy", work / "y.npy"
    np.save(x_path, X)
    np.save(y_path, y)
    out: dict[str, Any] = {"rows": ROWS, "from_examples": len(examples), "features": int(X.shape[1]),
                           "rows_made_by": f"bootstrap resampling of {len(examples)} labelled examples of "
                                           f"{TRAIN_SITES} generated sites, Gaussian noise {NOISE:g} x each "
                                           "feature's std (missing values kept)",
                           "fit_s": {}, "n_iter": {}, "per_100k": {}, "errors": {}}
    for algorithm in ALGORITHMS:
        left = deadline - time.monotonic()
        if left <= 5:
            out["errors"][algorithm] = "not run: the bench's time budget is spent"
            continue
        say(f"fitting {algorithm} on {ROWS:,} rows (at most {left:.0f} s)")
        try:
            seconds, n_iter = timed_fit(x_path, y_path, algorithm, left)
        except (RuntimeError, TimeoutError) as exc:
            out["errors"][algorithm] = str(exc)
            say(f"  {exc}")
            continue
        out["fit_s"][algorithm] = round(seconds, 2)
        out["n_iter"][algorithm] = n_iter
        out["per_100k"][algorithm] = round(seconds * 100_000 / ROWS, 2)
        say(f"  {algorithm}: {seconds:.1f} s")
    return out


# ----------------------------------------------------------------------------- 3. the default models

def camera_default() -> dict[str, Any]:
    """The shipped camera model's held-out scores, from its manifest once its signature and hashes verify."""
    package = load_package(CAMERA_MODEL, trusted_keys=read_trusted_keys(CAMERA_MODEL / PUBLIC_KEY_FILE))
    m = package.manifest
    return {"name": m.name, "version": m.version, "training_run_id": m.training_run_id,
            "source": "manifest metrics, measured on the model's held-out test split when it was trained "
                      "(signature and artifact hashes verified here; not re-run)",
            "metrics": dict(m.metrics)}


class PrintedSink:
    """Where the training step's progress and log lines go in this bench: the progress lines on stderr."""

    def __init__(self) -> None:
        self._step: str | None = None

    def write(self, progress: float, step: str | None, lines: list[LogLine]) -> bool:
        if step != self._step:
            self._step = step
            say(f"  default risk pipeline {progress:.0%}: {step}")
        for line in lines:
            say(f"  default risk pipeline: {line.line}")
        return True


def risk_default(train: Examples, work: Path) -> dict[str, Any]:
    """The default risk pipeline trained by the risk kind's training step, scored on another generated site."""
    # imported here: the risk kind loads TensorFlow (its TFLite export), which the spawned fit children,
    # importing this module again, need not
    from cloud_sync.pipelines.risk import RiskOptions, training

    holdout = examples_of(generate_site("holdout-site", seed=SEED + 1000, workers=WORKERS, hours=HOURS))
    options = RiskOptions(profiles=PROFILES)
    engine = make_engine(f"sqlite:///{work / 'unused.db'}")  # read only for device profiles, given here
    try:
        ctx = RunContext(job_id=0, pipeline="default-risk", attempt=1, params={}, options=options, engine=engine,
                         data_dir=work, work_dir=work / "default-risk", sink=PrintedSink())
        ctx.scratch["train"] = train
        training(ctx)
        ctx.flush()  # its last log lines (the recommendation per profile)
    finally:
        engine.dispose()
    pipeline, threshold = ctx.scratch["pipeline"], float(ctx.scratch["threshold"])
    p = pipeline.predict_proba(holdout.X)[:, 1]
    y = holdout.y == 1
    flagged = p >= threshold
    return {"options": options.model_dump(mode="json"), "train_examples": len(train),
            "train_sites": [f"train-site-{i} (seed {SEED + 100 + i})" for i in range(TRAIN_SITES)],
            "holdout_site": f"holdout-site (seed {SEED + 1000})", "algorithm": ctx.scratch["algorithm"],
            "threshold": round(threshold, 4), "cross_validated": ctx.metrics["candidates"],
            "recommendation": {p: r["winner"] for p, r in ctx.metrics["recommendation"].items()},
            "holdout": {"examples": len(holdout), "confirmed": int(y.sum()),
                        "average_precision": round(float(average_precision_score(y, p)), 4),
                        "roc_auc": round(float(roc_auc_score(y, p)), 4),
                        "recall_at_threshold": round(float((flagged & y).sum() / y.sum()), 4),
                        "precision_at_threshold": round(float((flagged & y).sum() / max(1, flagged.sum())), 4)}}


def training_examples() -> Examples:
    sites = [generate_site(f"train-site-{i}", seed=SEED + 100 + i, workers=WORKERS, hours=HOURS)
             for i in range(TRAIN_SITES)]
    return Examples.concat([examples_of(s) for s in sites])


# ----------------------------------------------------------------------------- 4. the closed loop

def loop_inputs() -> LoopInputs:
    site = generate_site("bench-site", seed=SEED, workers=WORKERS, hours=HOURS)
    return LoopInputs(site=site, last_verdicts=LAST_VERDICTS, profiles=PROFILES,
                      history_profile=EDGE_PROFILE, wait_s=WAIT_S)


# ----------------------------------------------------------------------------- main

def main() -> int:
    with bench_session():  # SIGTERM and SIGHUP, too, stop the children on the way out
        return run()


def run() -> int:
    start = time.monotonic()
    result: dict[str, Any] = {"bench": "retrain", "cpus": os.cpu_count(),
                              "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                              "verdict_to_candidate_s": None, "training_s_per_100k_rows": None, "default_models": None,
                              **{name: None for name in LOOP_TARGETS}}
    errors: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="siteguard-retrain-bench-"))
    previous_key = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = os.urandom(32).hex()  # throw-away: the children sign the packages they build with it
    examples: Examples | None = None
    try:
        for phase in ("retrain", "default", "fit", "loop"):
            if phase not in PHASES:
                continue
            say(f"== {phase}")
            (work / phase).mkdir()
            try:
                if phase == "retrain":
                    result["retrain"] = retrain_phase(work / phase)
                    result["verdict_to_candidate_s"] = result["retrain"]["verdict_to_candidate_s"]
                    if "error" in result["retrain"]:
                        errors[phase] = result["retrain"]["error"]
                    continue
                if phase == "loop":
                    result["loop"] = loop_phase(work / phase, loop_inputs())
                    result.update({name: result["loop"][name] for name in LOOP_TARGETS})
                    if failed := {n: result["loop"][n]["error"] for n in LOOP_STEPS if "error" in result["loop"][n]}:
                        errors[phase] = "; ".join(f"{n}: {e}" for n, e in failed.items())
                    continue
                examples = examples if examples is not None else training_examples()
                if phase == "default":
                    result["default_models"] = {"camera": camera_default(),
                                                "risk": risk_default(examples, work / phase)}
                else:
                    result["fit"] = fit_phase(examples, work / phase, start + BUDGET_S)
                    result["training_s_per_100k_rows"] = result["fit"]["per_100k"] or None
                    if result["fit"]["errors"]:
                        errors["fit"] = "; ".join(f"{a}: {e}" for a, e in result["fit"]["errors"].items())
            except Exception as exc:  # noqa: BLE001 - the bench always ends with its JSON line, saying why
                errors[phase] = f"{type(exc).__name__}: {exc}"
                say(traceback.format_exc())
    finally:
        if previous_key is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous_key
        shutil.rmtree(work, ignore_errors=True)
    targets = {"verdict_to_candidate_s": TARGET_S, **LOOP_TARGETS}
    result["target"] = {name: {"max": most} for name, most in targets.items()}
    result["met"] = {name: None if result.get(name) is None else result[name] <= most
                     for name, most in targets.items()}
    result["bench_s"] = round(time.monotonic() - start, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if errors:
        result["error"] = "; ".join(f"{phase}: {e}" for phase, e in errors.items())
    print(json.dumps(result, default=str))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

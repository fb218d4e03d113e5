"""``siteguard cloud worker|train|jobs``: run training jobs, start one (and watch it), list them.

``worker`` is a huey consumer in this process (``--workers`` threads); with
``--jobs redis://...`` workers on several machines share one queue, without
it the queue is ``jobs.sqlite3`` in the data dir (the service's, so
``serve`` and ``worker`` on one machine share it). ``train --wait`` shows a
progress bar from the job's progress until it ends: exit status 0 done, 1
failed (or refused, or still running at ``--timeout``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from cloud_sync.db.engine import make_engine
from cloud_sync.db.migrate import upgrade

from .errors import TrainingError
from .jobs import Job, JobStore
from .kinds import load_kind_modules, registered_kinds
from .queue import JobQueue, make_huey
from .settings import JobSettings
from .states import State
from .worker import run_worker

EXIT_FAILED = 1
POLL_S = 0.5


class Place(Protocol):
    """Where the cloud's state is (the service settings of ``--db`` and ``--data-dir``)."""

    @property
    def db_url(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...


Command = Callable[..., argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, command: Command, place: Callable[[argparse.Namespace], Place]
                 ) -> None:
    """Adds the commands to ``sub`` through ``command`` (the cloud CLI's, which adds --db and --data-dir)."""
    def bind(func: Callable[[argparse.Namespace, Place], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: func(args, place(args))

    p = command(sub, "worker", bind(cmd_worker), "run training jobs: a huey consumer in this process")
    _jobs_option(p)
    p.add_argument("--workers", type=int, default=1, help="jobs run at once (threads)")
    p.add_argument("--kinds", action="append", default=[], metavar="MODULE",
                   help="import MODULE to register its pipeline kinds (repeatable)")
    p.add_argument("--tick", type=int, default=JobSettings().tick_s,
                   help="seconds between trigger checks and lease checks")
    p.add_argument("--lease", type=float, default=JobSettings().lease_s,
                   help="seconds a worker's claim on a job lasts without renewal")
    p = command(sub, "train", bind(cmd_train), "start a run of a pipeline (--wait: show it until it ends)")
    p.add_argument("--pipeline", required=True)
    p.add_argument("--params", default="{}", help="JSON object handed to the steps")
    p.add_argument("--wait", action="store_true", help="show the job's progress until done (0) or failed (1)")
    p.add_argument("--timeout", type=float, default=24 * 3600.0, help="with --wait: give up after this long")
    _jobs_option(p)
    p = command(sub, "jobs", bind(cmd_jobs), "list training jobs, newest first")
    p.add_argument("--pipeline", default=None)
    p.add_argument("--state", default=None, choices=[s.value for s in State])
    p.add_argument("--limit", type=int, default=50)


def _jobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", default=None, metavar="URL",
                   help="job queue: redis://HOST:PORT/DB (default: jobs.sqlite3 in the data dir)")


def cmd_worker(args: argparse.Namespace, place: Place) -> int:
    lease = args.lease
    settings = JobSettings(tick_s=args.tick, lease_s=lease, renew_s=lease / 3)
    loaded = load_kind_modules(args.kinds)
    upgrade(place.db_url)
    engine = make_engine(place.db_url)
    queue = JobQueue(make_huey(args.jobs, place.data_dir), engine, place.data_dir, settings)
    try:
        _say(f"training worker: {args.workers} thread(s), kinds {', '.join(registered_kinds()) or 'none'} "
             f"(from {', '.join(loaded) or 'no module'}), checking triggers and leases every {args.tick} s")
        run_worker(queue, args.workers)
    finally:
        queue.close()
        engine.dispose()
    return 0


def cmd_train(args: argparse.Namespace, place: Place) -> int:
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        return _refused(f"--params is not JSON: {exc}")
    if not isinstance(params, dict):
        return _refused("--params must be a JSON object")
    upgrade(place.db_url)
    engine = make_engine(place.db_url)
    queue = JobQueue(make_huey(args.jobs, place.data_dir), engine, place.data_dir)
    try:
        try:
            job = queue.submit(args.pipeline, params=params)
        except TrainingError as exc:
            return _refused(str(exc))
        _say(f"job {job.id} of {job.pipeline} queued")
        print(job.id)
        return watch(queue.jobs, job.id, args.timeout) if args.wait else 0
    finally:
        queue.close()
        engine.dispose()


def watch(jobs: JobStore, job_id: int, timeout_s: float) -> int:
    """A progress bar on stderr until the job ends; 0 when it is done."""
    deadline = time.monotonic() + timeout_s
    with tqdm(total=100, unit="%", file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}",
              dynamic_ncols=True) as bar:
        while True:
            job = jobs.get(job_id)
            bar.set_description_str(f"job {job.id} {job.state.value} (attempt {job.attempt})", refresh=False)
            bar.set_postfix_str((job.step or "")[:60], refresh=False)
            bar.n = round(job.progress * 100, 1)
            bar.refresh()
            if job.finished or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
    if not job.finished:
        _say(f"job {job.id} is still {job.state.value} after {timeout_s:g} s")
        return EXIT_FAILED
    if job.state is State.DONE:
        _say(f"job {job.id} done in {job.duration_s or 0:.1f} s: metrics {json.dumps(job.metrics)}")
        return 0
    _say(f"job {job.id} failed after {job.attempt} attempt(s): {job.error}")
    return EXIT_FAILED


def cmd_jobs(args: argparse.Namespace, place: Place) -> int:
    upgrade(place.db_url)
    engine = make_engine(place.db_url)
    try:
        jobs = JobStore(engine).list(pipeline=args.pipeline, state=State(args.state) if args.state else None,
                                     limit=args.limit)
    finally:
        engine.dispose()
    print(table(jobs))
    return 0


def table(jobs: list[Job]) -> str:
    header = ("ID", "PIPELINE", "STATE", "ATTEMPT", "PROGRESS", "CREATED (UTC)", "DURATION", "TRIGGER")
    rows = [header] + [(str(j.id), j.pipeline, j.state.value, f"{j.attempt}/{j.max_attempts}",
                        f"{j.progress * 100:.0f}%", _utc(j.created_ts),
                        f"{j.duration_s:.1f} s" if j.duration_s is not None else "-", j.reason) for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]) for r in rows)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _refused(message: str) -> int:
    print(f"refused: {message}", file=sys.stderr)
    return EXIT_FAILED


def _say(message: str) -> None:
    print(message, file=sys.stderr)

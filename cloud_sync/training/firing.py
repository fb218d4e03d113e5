"""Whether a pipeline's trigger fires now, and the reason recorded with the job it starts.

Each check reads the pipeline's history: "the last run" is its newest job
whatever became of it (what labels and schedules count from), the drift
reference is the newest done run's. ``now`` comes from the caller's clock,
so schedules are tested without waiting for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from croniter import croniter
from sqlalchemy import Engine, func, select

from cloud_sync.db.schema import DATA_TABLES

from .drift import finite, ks, psi
from .jobs import Job
from .kinds import PipelineKind
from .performance import live_performance
from .pipelines import Pipeline
from .triggers import DriftTrigger, LabelsTrigger, ManualTrigger, PerformanceTrigger, ScheduleTrigger, Trigger


@dataclass(frozen=True, slots=True)
class Fired:
    trigger: str
    reason: str


@dataclass(frozen=True, slots=True)
class History:
    """What the checks need to know of a pipeline."""

    pipeline: Pipeline
    kind: PipelineKind
    last_run: Job | None
    last_done: tuple[Job, dict[str, np.ndarray]] | None


def check(trigger: Trigger, history: History, engine: Engine, now: float) -> Fired | None:
    match trigger:
        case ScheduleTrigger():
            return _schedule(trigger, history, now)
        case LabelsTrigger():
            return _labels(trigger, history, engine)
        case DriftTrigger():
            return _drift(trigger, history, engine)
        case PerformanceTrigger():
            return _performance(trigger, engine, now)
        case ManualTrigger():
            return None
    raise TypeError(f"no check for trigger {trigger!r}")


def _schedule(trigger: ScheduleTrigger, history: History, now: float) -> Fired | None:
    due = croniter(trigger.cron, datetime.fromtimestamp(now, timezone.utc)).get_prev(datetime)
    since = history.last_run.created_ts if history.last_run else history.pipeline.created_ts
    if due.timestamp() <= since:
        return None
    return Fired("schedule", f"schedule: {trigger.cron} was due at {due.strftime('%Y-%m-%dT%H:%M:%SZ')}")


def _labels(trigger: LabelsTrigger, history: History, engine: Engine) -> Fired | None:
    verdicts = DATA_TABLES["verdicts"]
    since = history.last_run.created_ts if history.last_run else None
    query = select(func.count()).select_from(verdicts)
    if since is not None:
        query = query.where(verdicts.c.received_ts > since)
    with engine.connect() as conn:
        new = int(conn.execute(query).scalar_one())
    if new < trigger.min_new:
        return None
    return Fired("labels", f"labels: {new} new verdicts >= {trigger.min_new}")


def _drift(trigger: DriftTrigger, history: History, engine: Engine) -> Fired | None:
    if history.last_done is None or history.kind.drift_sample is None:
        return None  # nothing to compare with: the first run comes from another trigger
    done, reference = history.last_done
    sample = history.kind.drift_sample(engine, done.started_ts or done.created_ts)
    statistic = psi if trigger.method == "psi" else ks
    worst: tuple[float, str, int] | None = None
    for feature in trigger.features or sorted(reference):
        ref, new = finite(reference.get(feature, np.empty(0))), finite(sample.get(feature, np.empty(0)))
        if ref.size == 0 or new.size < trigger.min_samples:
            continue
        value = statistic(ref, new)
        if value > trigger.threshold and (worst is None or value > worst[0]):
            worst = (value, feature, int(new.size))
    if worst is None:
        return None
    value, feature, rows = worst
    return Fired("drift", f"drift: {trigger.method}({feature})={value:.2f} > {trigger.threshold:g} on {rows} rows")


def _performance(trigger: PerformanceTrigger, engine: Engine, now: float) -> Fired | None:
    live = live_performance(engine, now - trigger.window_s, trigger.alarm_kinds, trigger.match_s)
    if (trigger.min_precision is not None and live.precision is not None
            and live.precision_n >= trigger.min_verdicts and live.precision < trigger.min_precision):
        return Fired("performance", f"performance: precision {live.precision:.2f} < {trigger.min_precision:g} "
                                    f"on {live.precision_n} verdicts")
    if (trigger.min_recall is not None and live.recall is not None
            and live.recall_n >= trigger.min_verdicts and live.recall < trigger.min_recall):
        return Fired("performance", f"performance: recall {live.recall:.2f} < {trigger.min_recall:g} "
                                    f"on {live.recall_n} confirmed alarms")
    return None

"""Training jobs of the cloud (issue #11): pipelines, triggers, jobs with states, leases, retries and logs.

- :mod:`.kinds` — what a pipeline runs: ``register_kind(name, steps)``, four step functions of a
  :class:`.context.RunContext` (preprocessing, training, evaluating, packaging).
- :mod:`.pipelines`, :mod:`.triggers` — pipelines and their triggers (schedule, labels, drift,
  performance, manual), stored in the cloud database; :mod:`.firing` says when one fires.
- :mod:`.jobs`, :mod:`.leases`, :mod:`.runner` — jobs in the cloud database, claimed with a lease so
  none runs twice at once, retried with backoff, re-run when their worker is lost.
- :mod:`.queue`, :mod:`.worker` — huey (SQLite in the data dir, or Redis) and its consumer.
- :mod:`.admin_api`, :mod:`.cli` — ``/api/v1/training/...`` and ``siteguard cloud worker|train|jobs``.

See docs/trainer.md for how this fits the trainer.
"""
from __future__ import annotations

from .context import RunContext
from .errors import (
    InvalidPipeline, LeaseLost, ManualRunsOff, PipelineBusy, TrainingError, UnknownJob, UnknownKind, UnknownPipeline,
)
from .jobs import Job, JobStore, LogOut
from .kinds import PipelineKind, get_kind, load_kind_modules, register_kind, registered_kinds
from .pipelines import Pipeline, PipelineIn, PipelineStore
from .queue import JobQueue, make_huey
from .settings import JobSettings
from .states import State
from .triggers import DriftTrigger, LabelsTrigger, ManualTrigger, PerformanceTrigger, ScheduleTrigger, Trigger
from .worker import embedded_worker, run_worker

__all__ = [
    "DriftTrigger", "InvalidPipeline", "Job", "JobQueue", "JobSettings", "JobStore", "LabelsTrigger", "LeaseLost",
    "LogOut", "ManualRunsOff", "ManualTrigger", "PerformanceTrigger", "Pipeline", "PipelineBusy", "PipelineIn",
    "PipelineKind", "PipelineStore", "RunContext", "ScheduleTrigger", "State", "TrainingError", "Trigger",
    "UnknownJob", "UnknownKind", "UnknownPipeline", "embedded_worker", "get_kind", "load_kind_modules",
    "make_huey", "register_kind", "registered_kinds", "run_worker",
]

"""The training package's errors, rooted in one class so callers (API, CLI) catch them together."""
from __future__ import annotations


class TrainingError(Exception):
    """Root of everything this package refuses."""


class UnknownPipeline(TrainingError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no pipeline named {name!r}")


class UnknownJob(TrainingError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no training job {job_id}")


class UnknownKind(TrainingError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no pipeline kind {name!r} is registered (registered: {', '.join(known) or 'none'})")


class InvalidPipeline(TrainingError):
    """A pipeline document its kind cannot run (options, triggers)."""


class PipelineBusy(TrainingError):
    """The pipeline already has an unfinished job: at most one at a time."""

    def __init__(self, pipeline: str, job_id: int | None) -> None:
        super().__init__(f"pipeline {pipeline!r} already has an unfinished job"
                         + (f" ({job_id})" if job_id is not None else ""))
        self.job_id = job_id


class ManualRunsOff(TrainingError):
    def __init__(self, pipeline: str) -> None:
        super().__init__(f"pipeline {pipeline!r} takes no manual runs: add a trigger {{\"type\": \"manual\"}}")


class StepRefused(TrainingError):
    """A step's verdict that retrying cannot change (data validation, a model gate): the job fails at once
    with this message as its error, no attempt after it."""


class LeaseLost(TrainingError):
    """This worker no longer holds the job's lease (it expired and the job went to another attempt)."""

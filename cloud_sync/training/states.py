"""A job's states, in the order a run goes through them.

``queued -> preprocessing -> training -> evaluating -> packaging -> done``;
any running state may go to ``failed``, or back to ``queued`` for another
attempt (a step raised, or the worker running it was lost).
"""
from __future__ import annotations

from enum import Enum
from typing import Literal


class State(str, Enum):
    QUEUED = "queued"
    PREPROCESSING = "preprocessing"
    TRAINING = "training"
    EVALUATING = "evaluating"
    PACKAGING = "packaging"
    DONE = "done"
    FAILED = "failed"


STEPS: tuple[State, ...] = (State.PREPROCESSING, State.TRAINING, State.EVALUATING, State.PACKAGING)
"""The steps a pipeline kind implements, in the order they run."""
RUNNING: frozenset[State] = frozenset(STEPS)
FINISHED: frozenset[State] = frozenset({State.DONE, State.FAILED})
StateName = Literal["queued", "preprocessing", "training", "evaluating", "packaging", "done", "failed"]
"""The states' names, where a schema needs them spelled out (query parameters)."""

"""Pipeline kinds: what a pipeline's jobs run, registered in code by name.

A kind is four step functions ``(ctx: RunContext) -> None`` (preprocessing,
training, evaluating, packaging), optionally a pydantic model its pipelines'
``options`` must match, a ``drift_sample(engine, since)`` giving recent
feature values for the drift trigger, and how much of the run each step is
(progress weights). The job engine runs any registered kind and knows
nothing of what it trains.

Kinds register when their module is imported: modules named by the entry
point group ``siteguard.training_kinds`` (how an installed package adds a
kind), by ``$SITEGUARD_TRAINING_KINDS`` (comma-separated) and by the worker's
``--kinds`` are imported by :func:`load_kind_modules`.
"""
from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from .context import RunContext
from .errors import UnknownKind
from .states import STEPS, State

Step = Callable[[RunContext], None]
DriftSample = Callable[[Engine, float], dict[str, np.ndarray]]
ENTRY_POINTS = "siteguard.training_kinds"
KINDS_ENV = "SITEGUARD_TRAINING_KINDS"


class NoOptions(BaseModel):
    """The options of a kind that takes none: any key is a mistake."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PipelineKind:
    name: str
    steps: Mapping[State, Step]
    options: type[BaseModel] = NoOptions
    drift_sample: DriftSample | None = None
    weights: Mapping[State, float] = field(default_factory=lambda: MappingProxyType({s: 1.0 for s in STEPS}))

    def span(self, step: State) -> tuple[float, float]:
        """Where ``step`` starts and ends on the run's 0..1 progress."""
        total = sum(self.weights.values())
        before = sum(self.weights[s] for s in STEPS[:STEPS.index(step)])
        return before / total, (before + self.weights[step]) / total


_KINDS: dict[str, PipelineKind] = {}
_LOCK = threading.Lock()


def register_kind(name: str, steps: Mapping[str, Step], *, options: type[BaseModel] = NoOptions,
                  drift_sample: DriftSample | None = None, weights: Mapping[str, float] | None = None,
                  replace: bool = False) -> PipelineKind:
    """Registers a kind under ``name``; ``steps`` maps each of preprocessing, training, evaluating and
    packaging to its function. ValueError for a missing or unknown step, a bad weight, or a taken name."""
    names = {s.value for s in STEPS}
    if missing := names - set(steps):
        raise ValueError(f"pipeline kind {name!r} lacks the steps {sorted(missing)}")
    if unknown := set(steps) - names:
        raise ValueError(f"pipeline kind {name!r} has unknown steps {sorted(unknown)}: the steps are "
                         f"{[s.value for s in STEPS]}")
    spread = {s: float((weights or {}).get(s.value, 1.0)) for s in STEPS}
    if weights is not None and (set(weights) - names or any(w < 0 for w in spread.values())
                                or sum(spread.values()) <= 0):
        raise ValueError(f"pipeline kind {name!r}: weights must be >= 0 per step name, with a positive sum")
    kind = PipelineKind(name, MappingProxyType({State(s): f for s, f in steps.items()}), options, drift_sample,
                        MappingProxyType(spread))
    with _LOCK:
        if name in _KINDS and not replace:
            raise ValueError(f"a pipeline kind named {name!r} is registered already")
        _KINDS[name] = kind
    return kind


def get_kind(name: str) -> PipelineKind:
    with _LOCK:
        found = _KINDS.get(name)
    if found is None:
        raise UnknownKind(name, registered_kinds())
    return found


def registered_kinds() -> list[str]:
    with _LOCK:
        return sorted(_KINDS)


def load_kind_modules(modules: Iterable[str] = ()) -> list[str]:
    """Imports the modules that register kinds (entry points, the environment, ``modules``); returns their names.
    A module that fails to import raises: a worker that cannot run its kinds should not start."""
    named = [ep.value for ep in entry_points(group=ENTRY_POINTS)]
    named += [m.strip() for m in os.environ.get(KINDS_ENV, "").split(",") if m.strip()]
    named += list(modules)
    for module in dict.fromkeys(named):
        importlib.import_module(module)
    return list(dict.fromkeys(named))

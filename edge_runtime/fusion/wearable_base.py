"""What the wearable rules share: who wears the wearable, and who responds to them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.config.people import Worker

from .conditions import worker_label

#: (worker id, ts) -> who must be told of the worker's emergency (escalation.py's responders).
Responders = Callable[[str, float], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Wearer:
    """A worker with a wearable, as the rules name them in messages."""

    worker: Worker
    label: str

    @classmethod
    def of(cls, worker: Worker) -> Wearer:
        return cls(worker, worker_label(worker))

    @property
    def device(self) -> str:
        """The wearable's device id (the worker's id when the site file names none)."""
        return self.worker.wearable or self.worker.id

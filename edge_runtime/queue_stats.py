"""What every bounded queue of the edge node reports: depth, capacity and what it shed.

Overload has a policy, not a backlog: each queue between the alarm path and
bulk work has a fixed capacity, and what it does when full is counted here.
``/metrics``, ``/readyz`` and the dashboard show these figures; the runtime
hands them out as a list from ``queues()``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class QueueStats:
    """One bounded queue's counters (a snapshot: copy, never share the live object)."""

    name: str  # e.g. "telemetry.routine", "telemetry.events", "store.readings"
    depth: int = 0  # items waiting now
    capacity: int = 0  # the bound; 0 means "one slot per source" (coalescing queues)
    high_water: int = 0  # the largest depth seen
    enqueued: int = 0  # items accepted since start
    shed: int = 0  # routine items dropped or merged into a newer one by the overload policy
    kind: str = "bulk"  # "events" queues never shed; "bulk" queues may coalesce routine data

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def shedding(self) -> bool:
        return self.shed > 0

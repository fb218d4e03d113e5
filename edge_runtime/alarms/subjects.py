"""Who or what an alarm is about, and how messages name them.

Fusion's rules and the supervisors' zone actions both build alarm subjects and
messages; they share these so an alarm about a zone has one key and one name
whoever raised it (``fusion.conditions`` re-exports them for the rules).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Subject, SubjectKind

if TYPE_CHECKING:
    from edge_runtime.config.people import Worker
    from edge_runtime.config.zones import Zone


def worker_subject(worker_id: str) -> Subject:
    return Subject(SubjectKind.WORKER, worker_id)


def zone_subject(zone_id: str) -> Subject:
    return Subject(SubjectKind.ZONE, zone_id)


def device_subject(device_id: str) -> Subject:
    return Subject(SubjectKind.DEVICE, device_id)


def worker_label(worker: Worker) -> str:
    """How messages name a worker: "Ana (w07)"."""
    return f"{worker.name} ({worker.id})"


def zone_label(zone: Zone) -> str:
    """How messages name a zone: "Tank 3 (z3)"."""
    return f"{zone.name} ({zone.id})" if zone.name else f"zone {zone.id}"

"""Suppression by design and out-of-service: switches on alarm *points*, not
on alarm records, so an alarm raised while one is on is born hidden.

Suppression by zone (a zone locked out) hides the zone's own alarms and those
of devices located in it. It never hides a worker's alarm: a person inside a
locked-out zone is the hazard, not a nuisance to filter.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edge_runtime.alarms.model import Actor, Subject, SubjectKind

Key = tuple[Subject, str]
ServiceTarget = Subject | Key  # a whole subject, or one (subject, condition)


@dataclass(frozen=True, slots=True)
class Overlay:
    """Who switched it on, why and when."""

    by: Actor
    reason: str
    ts: float


class Overlays:
    def __init__(self) -> None:
        self._zones: dict[str, Overlay] = {}
        self._out: dict[ServiceTarget, Overlay] = {}

    @property
    def suppressed_zones(self) -> Mapping[str, Overlay]:
        return MappingProxyType(self._zones)

    @property
    def out_of_service(self) -> Mapping[ServiceTarget, Overlay]:
        return MappingProxyType(self._out)

    def suppress(self, zone: str, overlay: Overlay) -> None:
        self._zones[zone] = overlay

    def unsuppress(self, zone: str) -> bool:
        """False when the zone was not suppressed."""
        return self._zones.pop(zone, None) is not None

    def take_out(self, target: ServiceTarget, overlay: Overlay) -> None:
        self._out[target] = overlay

    def put_back(self, target: ServiceTarget) -> bool:
        """False when the target was not out of service."""
        return self._out.pop(target, None) is not None

    def suppresses(self, subject: Subject, zone: str | None) -> bool:
        if not self._zones:
            return False
        if subject.kind is SubjectKind.ZONE:
            return subject.id in self._zones
        return subject.kind is SubjectKind.DEVICE and zone is not None and zone in self._zones

    def is_out_of_service(self, key: Key) -> bool:
        return bool(self._out) and (key in self._out or key[0] in self._out)

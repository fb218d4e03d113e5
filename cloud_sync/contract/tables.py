"""The synced tables, their record models and the priority lane each drains in.

Drain order is the order of :data:`TABLES`: every lane before the next one
(events, then bulk, then snapshots), tables in a lane in the order given.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from .records import (
    AlarmRecord,
    ExposureMinuteRecord,
    ReadingRecord,
    Record,
    SnapshotRecord,
    TransitionRecord,
    VerdictRecord,
    ZoneActionRecord,
)


class Lane(str, enum.Enum):
    """Priority lanes, most urgent first: a lane drains only when those before it are empty."""

    EVENTS = "events"  # alarms and what people did about them: never dropped, never late
    BULK = "bulk"  # exposure minutes and readings: thinned before anything else when the disk is full
    SNAPSHOTS = "snapshots"  # camera frames (hard examples): large, often only at night


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    record: type[Record]
    lane: Lane

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.record.model_fields)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("alarms", AlarmRecord, Lane.EVENTS),
        TableSpec("transitions", TransitionRecord, Lane.EVENTS),
        TableSpec("verdicts", VerdictRecord, Lane.EVENTS),
        TableSpec("zone_actions", ZoneActionRecord, Lane.EVENTS),
        TableSpec("exposure_minutes", ExposureMinuteRecord, Lane.BULK),
        TableSpec("readings", ReadingRecord, Lane.BULK),
        TableSpec("snapshots", SnapshotRecord, Lane.SNAPSHOTS),
    )
}
LANES: dict[Lane, tuple[str, ...]] = {
    lane: tuple(name for name, spec in TABLES.items() if spec.lane is lane) for lane in Lane
}


def table(name: str) -> TableSpec:
    """The spec of a synced table; ValueError naming the known ones otherwise."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a synced table; synced tables are {', '.join(TABLES)}") from None

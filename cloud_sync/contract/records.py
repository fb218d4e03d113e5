"""One record shape per synced table: what the edge stores, publishes and uploads, and what the cloud validates.

The alarm record is the same object on MQTT (retained ``alarms/{id}``), in the
dashboard's API and in a sync batch: :class:`AlarmRecord`. A synced row is a
record plus the edge row ``id`` (carried beside it in the batch, never inside
the record), so each table has exactly one model here.

Types are wire types (plain strings, numbers, lists); the edge's enums map to
them by value. Models are strict about names (``extra="forbid"``): a field the
contract does not know is a schema error, reported, not silently kept.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

PriorityName = Literal["low", "medium", "high", "critical"]
VerdictName = Literal["confirmed", "false_alarm"]
ChannelName = Literal["dashboard", "mqtt", "wearable", "system"]  # edge_runtime.alarms.model.Channel


class Record(BaseModel):
    """Base of every synced record; ``group_by`` names the columns a batch sorts rows by to compress them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    group_by: ClassVar[tuple[str, ...]] = ()


class AlarmRecord(Record):
    """An alarm's published state (one row per alarm on the edge, replaced on every change)."""

    alarm_id: str
    subject: str = Field(description="kind:id, e.g. worker:w1 or zone:tank")
    condition: str
    kind: str
    priority: PriorityName
    state: str = Field(description="ISA-18.2 state")
    message: str
    raised_ts: float
    updated_ts: float
    latching: bool
    condition_active: bool
    value: Optional[float] = None
    threshold: Optional[float] = None
    zone: Optional[str] = None
    workers: list[str] = []
    sirens: list[str] = []
    acked_by: Optional[str] = None
    acked_via: Optional[ChannelName] = Field(None, description="The channel acked_by came through")
    acked_ts: Optional[float] = None
    verdict: Optional[VerdictName] = None
    shelved_by: Optional[str] = None
    shelved_via: Optional[ChannelName] = Field(None, description="The channel shelved_by came through")
    shelved_until: Optional[float] = None
    shelve_reason: Optional[str] = None
    flood_group: Optional[str] = None
    model: Optional[dict[str, Any]] = Field(
        None, description="name, version and sha256 of the model whose detections raised it (camera alarms)")
    risk_score: Optional[float] = Field(None, ge=0, le=1, description="the risk model's score when it was raised")
    risk_model: Optional[dict[str, Any]] = Field(None, description="name, version and sha256 of that risk model")


class TransitionRecord(Record):
    """One change of an alarm: who, through which channel, when."""

    group_by: ClassVar[tuple[str, ...]] = ("alarm_id",)
    alarm_id: str
    ts: float
    cause: str
    from_state: str
    to_state: str
    by: Optional[str] = None
    note: Optional[str] = None
    extra: Optional[dict[str, Any]] = None
    channel: Optional[ChannelName] = None


class VerdictRecord(Record):
    """A supervisor's label on an alarm (one row per revision): the training labels."""

    alarm_id: str
    verdict: VerdictName
    by: Optional[str] = None
    note: Optional[str] = None
    ts: float
    kind: str
    subject: str
    channel: Optional[ChannelName] = None


class ZoneActionRecord(Record):
    """A supervisor's siren, evacuation or all-clear action on a zone."""

    zone: str
    action: str
    by: str
    ts: float
    note: Optional[str] = None
    alarm_id: Optional[str] = None


class ExposureMinuteRecord(Record):
    """A worker's time-weighted gas exposure for one minute."""

    group_by: ClassVar[tuple[str, ...]] = ("worker", "gas")
    worker: str
    gas: str
    minute_ts: float
    value: float


class ReadingRecord(Record):
    """One compact telemetry reading; ``v1..v3`` mean what ``edge_runtime/store/rows.py`` documents per kind."""

    group_by: ClassVar[tuple[str, ...]] = ("device", "kind")
    device: str
    kind: str
    ts: float
    v1: Optional[float] = None
    v2: Optional[float] = None
    v3: Optional[float] = None
    extra: Optional[dict[str, Any]] = None


class SnapshotRecord(Record):
    """A camera frame kept as evidence or as a hard example, with what the model saw in it."""

    group_by: ClassVar[tuple[str, ...]] = ("camera",)
    stem: str = Field(description="The snapshot's name on the device (capture time in ms first)")
    camera: str
    ts: float
    reason: str = Field(description="hard_example, or the alarm kind that kept it")
    detections: list[dict[str, Any]] = []
    model: Optional[dict[str, Any]] = Field(None, description="name, version and sha256 of the model")
    jpeg: bytes

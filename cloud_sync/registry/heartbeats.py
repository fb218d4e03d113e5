"""Device heartbeats (docs/sync.md): the latest one of each device, and whether the device is online.

A device is online while its latest heartbeat, by the server's clock, is
younger than two of its own intervals: a silent device turns offline by
itself, never shown healthy. Unknown top-level fields are ignored rather than
refused, so a newer edge's heartbeat still marks it online on an older cloud.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .tables import device_heartbeats

OFFLINE_AFTER_INTERVALS = 2


class LaneBacklog(BaseModel):
    backlog_rows: int = Field(ge=0)
    backlog_bytes: int = Field(ge=0)
    oldest_unsynced_ts: Optional[float] = None


class Disk(BaseModel):
    used_bytes: int = Field(ge=0)
    budget_bytes: int = Field(ge=0)


class ModelInUse(BaseModel):
    name: str
    version: str
    sha256: Optional[str] = None


class OpenAlarms(BaseModel):
    open: int = Field(ge=0)
    by_priority: dict[str, int] = {}


class Heartbeat(BaseModel):
    """The body of ``POST /v1/devices/{id}/heartbeat``."""

    model_config = ConfigDict(extra="ignore")
    ts: float
    interval_s: float = Field(gt=0, le=86400)
    lanes: dict[str, LaneBacklog] = {}
    last_success_ts: Optional[float] = None
    last_error: Optional[str] = Field(None, max_length=2000)
    quarantined: int = Field(0, ge=0)
    disk: Optional[Disk] = None
    models: dict[str, ModelInUse] = {}
    alarms: Optional[OpenAlarms] = None
    software: Optional[str] = Field(None, max_length=64)
    roster: dict[str, list[str]] = Field(
        default_factory=dict, description="worker -> its sensor ids, zone:<id> -> the zone's fixed detectors")


class DeviceStatus(BaseModel):
    """What the console shows of a device's health."""

    device: str
    online: bool
    received_ts: float
    checked_ts: float = Field(description="the server time ``online`` was decided at: a page ages it from there")
    heartbeat: Heartbeat


class HeartbeatStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, device_id: str, heartbeat: Heartbeat) -> float:
        """Keeps ``heartbeat`` as the device's latest; returns the server time it was received at."""
        now = self._clock()
        row = {"device_id": device_id, "received_ts": now, "ts": heartbeat.ts, "interval_s": heartbeat.interval_s,
               "body": heartbeat.model_dump(mode="json")}
        with self._engine.begin() as conn:
            _upsert_latest(conn, row)
        return now

    def statuses(self, device_ids: list[str] | None = None) -> dict[str, DeviceStatus]:
        """The status of every device that ever sent a heartbeat (or of ``device_ids`` only), by id."""
        query = select(device_heartbeats)
        if device_ids is not None:
            query = query.where(device_heartbeats.c.device_id.in_(device_ids))
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            row["device_id"]: DeviceStatus(
                device=row["device_id"], received_ts=row["received_ts"], checked_ts=now,
                online=now - row["received_ts"] < OFFLINE_AFTER_INTERVALS * row["interval_s"],
                heartbeat=Heartbeat.model_validate(row["body"]),
            )
            for row in rows
        }


def _upsert_latest(conn: Connection, row: dict[str, object]) -> None:
    """One row per device, replaced; both dialects spell it ``INSERT ... ON CONFLICT DO UPDATE``."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(device_heartbeats)
    stmt = insert.values(row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[device_heartbeats.c.device_id],
        set_={name: stmt.excluded[name] for name in row if name != "device_id"},
    ))

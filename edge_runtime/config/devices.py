"""Detectors, serial ports, the siren controller, the broker, storage and HTTP."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from firmware_bridge.readings import Gas

from .base import Id, StrictModel


class Detector(StrictModel):
    id: Id
    kind: Literal["portable", "fixed"]
    zone: str | None = Field(None, description="Zone of a fixed detector")
    position: tuple[float, float] | None = Field(
        None, description="(x, y) site metres of a fixed detector on the dashboard map (default: its zone's centre)"
    )
    gases: tuple[Gas, ...] = ()
    period_s: float = Field(5.0, gt=0, description="Expected reading period (stale after faults.stale_after_s)")
    last_bump: str | None = Field(None, description="ISO date of the last bump test")
    last_calibration: str | None = Field(None, description="ISO date of the last calibration")

    @field_validator("last_bump", "last_calibration")
    @classmethod
    def _iso_date(cls, v: str | None) -> str | None:
        """Fusion reads these with ``datetime.fromisoformat``; one it cannot read would
        silently leave the bump or calibration overdue alarm unjudged."""
        if v is not None:
            try:
                datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO date (YYYY-MM-DD) or date-time") from None
        return v


class ModbusPoll(StrictModel):
    """A fixed detector on an RS-485 bus: unit id and register layout."""

    unit: int = Field(ge=1, le=247)
    detector: Id
    poll_interval_s: float = Field(1.0, gt=0)


class SerialPort(StrictModel):
    port: str = Field(description="Device path (/dev/ttyUSB0) or a pyserial URL")
    protocol: Literal["nmea", "winsen", "modbus", "gateway"]
    baudrate: int = 9600
    device: Id | None = Field(None, description="Device id for single-device ports (nmea, winsen)")
    modbus: tuple[ModbusPoll, ...] = ()
    gateway_devices: dict[int, Id] = Field(default_factory=dict, description="gateway address -> device id")


class ControllerSettings(StrictModel):
    port: str
    baudrate: int = 115200
    ack_timeout_s: float = Field(0.2, gt=0)
    retries: int = Field(3, ge=0)


class MqttAccount(StrictModel):
    """Another client of the site broker: what it is decides what the broker's ACL lets it say
    (``siteguard broker-files`` writes the ACL) and what the daemon takes from it."""

    name: Id = Field(description="Its user name on the broker")
    role: Literal["supervisor", "operator", "gateway", "siren"] = Field(
        description="supervisor: acknowledges alarms and labels them (verdicts), on alarms/{id}/ack/{name}; "
        "operator: acknowledges only; gateway: publishes the telemetry of its wearables and reads their workers' "
        "alerts; siren: reads siren commands"
    )
    wearables: tuple[Id, ...] = Field((), description="gateway: the wearables it carries (each a worker's)")
    zones: tuple[Id, ...] = Field((), description="siren: the zones it sounds (none listed: every zone)")


class MqttSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str | None = None
    keepalive_s: int = Field(15, ge=5)
    username: str | None = Field(None, description="The daemon's own account on the broker (role: the whole site tree)")
    password: str | None = None
    accounts: tuple[MqttAccount, ...] = Field(
        (), description="The broker's other accounts. An acknowledgement is taken only on alarms/{id}/ack/{account} "
        "from a supervisor or operator account here, and recorded as that account: the broker, running the ACL "
        "`siteguard broker-files` generates from this list, lets no account publish under another's name",
    )
    telemetry_interval_s: float = Field(
        0.05, gt=0, le=5,
        description="Routine wearable telemetry (heart rate, battery, motion) reaches fusion at most this often: values "
        "that arrive in between are coalesced per wearable (newest wins, motion reduced to what man-down needs). "
        "Panic, cancel and check-in presses are never delayed by it",
    )
    max_telemetry_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024,
        description="Largest wearable telemetry message accepted (a full batch of 1,024 accelerometer samples fits); "
        "larger ones are skipped unread and counted",
    )


class StorageSettings(StrictModel):
    path: Path = Path("siteguard.db")
    max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Disk budget for the database")
    batch_size: int = Field(2000, gt=0)
    flush_interval_s: float = Field(0.2, gt=0)
    readings_sample_s: float = Field(0.0, ge=0, description="Store at most one reading per device and kind per this period (0 = all)")
    process_nice: int = Field(
        10, ge=0, le=19,
        description="Linux nice value of the store process: bulk storage yields the CPU to the alarm path under "
        "load (its bounded queue sheds routine readings, counted, if it falls behind); alarm writes still commit "
        "within milliseconds whenever a core is idle",
    )
    max_queued_readings: int = Field(
        20_000, gt=0,
        description="Bound of each queue between the alarm path and the disk (every producer's, the store process's "
        "intake and its writer's): routine readings beyond it are shed and counted, alarm writes never. 20,000 is "
        "about 10 s of a 200-worker site at 10x its base rate, and bounds the store's memory when the disk stalls "
        "or the CPU is saturated",
    )
    alarm_context_s: float = Field(
        600.0, ge=0,
        description="When the disk budget has to thin or delete readings the cloud does not have yet, it keeps "
        "every reading within this many seconds of an alarm's raise: the context of the alarm",
    )
    min_free_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Evict as if over budget when the file system has less free space than this (room for the WAL and its checkpoints)"
    )
    fsync_alarms: bool = Field(
        True, description="Commit alarm transitions with synchronous=FULL so they also survive a power cut, not only a crash"
    )
    spill_path: Path | None = Field(
        None, description="Directory of the spill file: alarm transitions, acks and verdicts the database could not "
        "take, one fsync'd JSON line each, replayed into the database once it is writable again, then removed "
        "(default: the database's directory; one on another file system stays writable when the database's is full)",
    )
    spill_max_bytes: int = Field(
        64 * 1024 * 1024, gt=0,
        description="Bound of the spill file; alarm writes beyond it are held in memory only (counted)",
    )
    journal_max_items: int = Field(
        10_000, gt=0,
        description="Alarm writes held in memory while the database cannot be written; beyond it they are kept "
        "in the spill file only, or lost and counted if that cannot be written either",
    )
    retry_interval_s: float = Field(
        2.0, gt=0, description="How often the store process retries opening or writing a database that failed"
    )


class HttpSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

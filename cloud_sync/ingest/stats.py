"""Ingest counters per device, for the service's Prometheus collector (plain numbers, no locks needed in asyncio)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DeviceIngest:
    rows: Counter[str] = field(default_factory=Counter)  # per table
    bytes: int = 0
    batches: int = 0
    duplicates: int = 0
    rejects: Counter[str] = field(default_factory=Counter)  # per reason class
    last_ingest_ts: float | None = None
    newest_row_ts: float | None = None  # the newest record time stored: lag = now - this


@dataclass
class IngestStats:
    devices: dict[str, DeviceIngest] = field(default_factory=dict)

    def device(self, device_id: str) -> DeviceIngest:
        return self.devices.setdefault(device_id, DeviceIngest())

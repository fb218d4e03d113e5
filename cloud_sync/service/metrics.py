"""Prometheus metrics of one service replica on ``GET /metrics`` (a viewer's session or API token).

Counters (``_total``) are what this replica did: rows and bytes ingested per
device, requests refused by reason; Prometheus sums them over the replicas and
``rate()`` turns them into rows/s. Gauges of the fleet (online, heartbeat age,
backlog, lag) are read from the database when Prometheus scrapes, so every
replica reports the same values and nothing is kept in the process.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cloud_sync.contract.batch import Receipt
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.heartbeats import HeartbeatStore

PREFIX = "siteguard_cloud"
NewestSynced = Callable[[], Mapping[str, float]]  # device -> ts of its newest row the cloud has


class CloudMetrics:
    def __init__(self, devices: DeviceRegistry, heartbeats: HeartbeatStore, newest_synced: NewestSynced, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()  # the fleet collector is not described: that would query at start
        self._rows = Counter(f"{PREFIX}_ingest_rows", "Rows stored (not those already stored), by device and table",
                             ["device", "table"], registry=self.registry)
        self._bytes = Counter(f"{PREFIX}_ingest_bytes", "Batch bytes received (compressed, as sent), by device",
                              ["device"], registry=self.registry)
        self._duplicates = Counter(f"{PREFIX}_ingest_duplicate_rows",
                                   "Rows of chunks the cloud already had (re-sent after a lost receipt)",
                                   ["device"], registry=self.registry)
        self._rejects = Counter(f"{PREFIX}_rejects", "Device requests, chunks and sign-ins refused, by reason",
                                ["reason"], registry=self.registry)
        self.registry.register(_FleetCollector(devices, heartbeats, newest_synced, clock))

    def ingested(self, device: str, receipt: Receipt, body_bytes: int) -> None:
        self._bytes.labels(device).inc(body_bytes)
        for durable in receipt.durable:
            if durable.duplicate:
                self._duplicates.labels(device).inc(durable.rows)
            else:
                self._rows.labels(device, durable.table).inc(durable.rows)
        for _ in receipt.rejected:
            self.rejected("rejected_chunk")

    def rejected(self, reason: str) -> None:
        """Counts a refusal; ``reason`` comes from a short fixed list (a label, not a message)."""
        self._rejects.labels(reason).inc()

    def scrape(self) -> bytes:
        """The exposition text (blocks: the fleet gauges query the database)."""
        return generate_latest(self.registry)


class _FleetCollector(Collector):
    def __init__(self, devices: DeviceRegistry, heartbeats: HeartbeatStore, newest_synced: NewestSynced,
                 clock: Callable[[], float]) -> None:
        self._devices = devices
        self._heartbeats = heartbeats
        self._newest_synced = newest_synced
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        now = self._clock()
        fleet = [d for d in self._devices.list() if d.decommissioned_ts is None]
        statuses = self._heartbeats.statuses()
        newest = self._newest_synced()
        online = GaugeMetricFamily(f"{PREFIX}_device_online", "1 while the device's latest heartbeat is younger "
                                   "than two of its intervals", labels=["device", "site"])
        age = GaugeMetricFamily(f"{PREFIX}_device_heartbeat_age_seconds", "Seconds since the latest heartbeat",
                                labels=["device"])
        lag = GaugeMetricFamily(f"{PREFIX}_device_lag_seconds", "Now minus the newest synced row's timestamp",
                                labels=["device"])
        rows = GaugeMetricFamily(f"{PREFIX}_device_backlog_rows", "Unsynced rows the device reported, by lane",
                                 labels=["device", "lane"])
        size = GaugeMetricFamily(f"{PREFIX}_device_backlog_bytes", "Unsynced bytes the device reported, by lane",
                                 labels=["device", "lane"])
        for device in fleet:
            status = statuses.get(device.id)
            online.add_metric([device.id, device.site], float(status is not None and status.online))
            if device.id in newest:
                lag.add_metric([device.id], max(0.0, now - newest[device.id]))
            if status is None:
                continue
            age.add_metric([device.id], now - status.received_ts)
            for lane, backlog in status.heartbeat.lanes.items():
                rows.add_metric([device.id, lane], backlog.backlog_rows)
                size.add_metric([device.id, lane], backlog.backlog_bytes)
        yield from (online, age, lag, rows, size)

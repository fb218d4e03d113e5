"""Prometheus metrics of one service replica on ``GET /metrics`` (a viewer's session or API token).

Counters (``_total``) are what this replica did: rows, bytes, batches and
duplicate chunks ingested per device (the ingest package's own
:class:`IngestStats`, read at scrape time, not counted twice), and requests
refused by reason (the service's refusals, and the ingest's rejected bodies
and chunks as ``batch_<class>``). Prometheus sums them over the replicas and
``rate()`` makes rows/s of them. Gauges of the fleet (online, heartbeat age,
backlog, lag) are read from the database when Prometheus scrapes, so every
replica reports the same values and nothing is kept in the process.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from cloud_sync.db.schema import DATA_TABLES, time_column
from cloud_sync.ingest import IngestStats
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.heartbeats import HeartbeatStore
from cloud_sync.registry.tables import devices

PREFIX = "siteguard_cloud"


class CloudMetrics:
    def __init__(self, engine: Engine, registry: DeviceRegistry, heartbeats: HeartbeatStore, ingest: IngestStats,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self._refusals: Counter[str] = Counter()
        self.registry.register(_IngestCollector(ingest, self._refusals))
        self.registry.register(_FleetCollector(engine, registry, heartbeats, clock))

    def rejected(self, reason: str) -> None:
        """Counts a refusal of the service's own; ``reason`` comes from a short fixed list (a label)."""
        self._refusals[reason] += 1

    def scrape(self) -> bytes:
        """The exposition text (blocks: the fleet gauges query the database)."""
        return generate_latest(self.registry)


class _IngestCollector(Collector):
    def __init__(self, stats: IngestStats, refusals: Counter[str]) -> None:
        self._stats = stats
        self._refusals = refusals

    def collect(self) -> Iterator[Any]:
        rows = CounterMetricFamily(f"{PREFIX}_ingest_rows", "Rows stored (not those stored before), by device and "
                                   "table", labels=["device", "table"])
        size = CounterMetricFamily(f"{PREFIX}_ingest_bytes", "Batch bytes received (compressed, as sent)",
                                   labels=["device"])
        batches = CounterMetricFamily(f"{PREFIX}_ingest_batches", "Batches ingested", labels=["device"])
        duplicates = CounterMetricFamily(f"{PREFIX}_ingest_duplicate_chunks", "Chunks the cloud already had "
                                         "(re-sent after a lost receipt, or by two replicas)", labels=["device"])
        rejects = CounterMetricFamily(f"{PREFIX}_rejects", "Requests, bodies and chunks refused, by reason",
                                      labels=["reason"])
        by_reason = Counter(self._refusals)
        for device, stats in list(self._stats.devices.items()):
            for table, count in stats.rows.items():
                rows.add_metric([device, table], count)
            size.add_metric([device], stats.bytes)
            batches.add_metric([device], stats.batches)
            duplicates.add_metric([device], stats.duplicates)
            by_reason.update({f"batch_{cls}": n for cls, n in stats.rejects.items()})
        for reason, count in sorted(by_reason.items()):
            rejects.add_metric([reason], count)
        yield from (rows, size, batches, duplicates, rejects)


class _FleetCollector(Collector):
    def __init__(self, engine: Engine, registry: DeviceRegistry, heartbeats: HeartbeatStore,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._registry = registry
        self._heartbeats = heartbeats
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        fleet = [d for d in self._registry.list() if d.decommissioned_ts is None]
        statuses = self._heartbeats.statuses()
        newest = newest_synced(self._engine)
        now = self._clock()
        online = GaugeMetricFamily(f"{PREFIX}_device_online", "1 while the device's latest heartbeat is younger "
                                   "than two of its intervals", labels=["device", "site"])
        age = GaugeMetricFamily(f"{PREFIX}_device_heartbeat_age_seconds", "Seconds since the latest heartbeat",
                                labels=["device"])
        lag = GaugeMetricFamily(f"{PREFIX}_device_lag_seconds", "Now minus the newest synced row's time",
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


def newest_synced(engine: Engine) -> dict[str, float]:
    """Each device's newest stored row time over every data table, in one query: a correlated ``max`` per
    table, which both databases answer from the (device_id, time) index without scanning the table."""
    newest = [select(func.max(table.c[time_column(name)])).where(table.c.device_id == devices.c.id)
              .scalar_subquery() for name, table in DATA_TABLES.items()]
    with engine.connect() as conn:
        rows = conn.execute(select(devices.c.id, *newest)).all()
    return {row[0]: max(t for t in row[1:] if t is not None) for row in rows if any(t is not None for t in row[1:])}

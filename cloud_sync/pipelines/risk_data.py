"""The synced rows a risk-model run learns from, read from the cloud database in bounded pieces.

Only what the examples need is read: every alarm, every verdict, and the
readings of each alarm's window (the :data:`~models.risk.features.WINDOW_S`
before it is raised), merged where windows overlap, so a week of a 200-worker
site is not loaded to learn from a few hundred alarms. The rows' schema-skew
flags come along: the run's data validation counts them. A data snapshot id
names exactly which rows a run saw (the newest id of each table it read).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, or_, select

from cloud_sync.db.schema import DATA_TABLES
from cloud_sync.registry.tables import device_heartbeats, devices
from models.risk.examples import Origin
from models.risk.features import WINDOW_S

READING_COLUMNS = ("device_id", "device", "kind", "ts", "v1", "v2", "v3")
SPANS_PER_QUERY = 200  # OR-ed time ranges per readings query: bounded statements, few round trips


@dataclass
class RiskRows:
    """Everything one run reads, as :mod:`models.risk.examples` takes it."""

    alarms: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    readings: dict[str, np.ndarray]  # READING_COLUMNS -> one array each
    roster: dict[str, list[str]]
    site_of: dict[str, Origin]
    flagged: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (rows with skew flags, rows)
    snapshot_id: str = ""


def load(engine: Engine, *, until_ts: float | None = None) -> RiskRows:
    """The alarms raised (and verdicts given) up to ``until_ts`` (all when None) and their windows' readings."""
    alarms_t, verdicts_t = DATA_TABLES["alarms"], DATA_TABLES["verdicts"]
    with engine.connect() as conn:
        alarm_query = select(alarms_t).order_by(alarms_t.c.id)
        verdict_query = select(verdicts_t).order_by(verdicts_t.c.id)
        if until_ts is not None:
            alarm_query = alarm_query.where(alarms_t.c.raised_ts <= until_ts)
            verdict_query = verdict_query.where(verdicts_t.c.ts <= until_ts)
        alarms = [dict(r._mapping) for r in conn.execute(alarm_query)]
        verdicts = [dict(r._mapping) for r in conn.execute(verdict_query)]
        origins = {r.id: Origin(site=r.site, device_type=r.device_type)
                   for r in conn.execute(select(devices.c.id, devices.c.site, devices.c.device_type))}
        roster: dict[str, list[str]] = {}
        for body in conn.execute(select(device_heartbeats.c.body)).scalars():
            for who, sensors in (body or {}).get("roster", {}).items():
                roster.setdefault(who, [])
                roster[who] += [s for s in sensors if s not in roster[who]]
    readings, flagged_readings = _window_readings(engine, alarms)
    rows = RiskRows(alarms, verdicts, readings, roster, origins)
    rows.flagged = {"alarms": _flagged(alarms), "verdicts": _flagged(verdicts), "readings": flagged_readings}
    rows.snapshot_id = _snapshot_id(alarms, verdicts, readings)
    return rows


def _window_readings(engine: Engine, alarms: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    readings = DATA_TABLES["readings"]
    columns = [readings.c[name] for name in READING_COLUMNS] + [readings.c.flags]
    out: dict[str, list[Any]] = {name: [] for name in READING_COLUMNS}
    flagged = total = 0
    with engine.connect() as conn:
        for device_id, spans in _spans(alarms):
            for i in range(0, len(spans), SPANS_PER_QUERY):
                ranges = [and_(readings.c.ts >= lo, readings.c.ts <= hi) for lo, hi in spans[i:i + SPANS_PER_QUERY]]
                query = select(*columns).where(readings.c.device_id == device_id, or_(*ranges))
                for row in conn.execute(query):
                    for name, value in zip(READING_COLUMNS, row[:-1]):
                        out[name].append(value)
                    flagged += row[-1] is not None
                    total += 1
    arrays = {name: np.asarray(out[name], dtype=object if name in ("device_id", "device", "kind") else np.float64)
              for name in READING_COLUMNS}
    for name in ("v1", "v2", "v3"):
        arrays[name] = np.asarray([np.nan if v is None else v for v in out[name]], dtype=np.float64)
    return arrays, (flagged, total)


def _spans(alarms: list[dict[str, Any]]) -> Iterator[tuple[str, list[tuple[float, float]]]]:
    """Per edge device, the merged ``[raised - WINDOW_S, raised]`` time ranges of its alarms."""
    by_device: dict[str, list[float]] = {}
    for alarm in alarms:
        by_device.setdefault(alarm["device_id"], []).append(float(alarm["raised_ts"]))
    for device_id, times in sorted(by_device.items()):
        merged: list[tuple[float, float]] = []
        for t in sorted(times):
            lo = t - WINDOW_S
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], t)
            else:
                merged.append((lo, t))
        yield device_id, merged


def _flagged(rows: list[dict[str, Any]]) -> tuple[int, int]:
    return sum(1 for r in rows if r.get("flags")), len(rows)


def _snapshot_id(alarms: list[dict[str, Any]], verdicts: list[dict[str, Any]], readings: dict[str, np.ndarray]) -> str:
    """Names the rows read: the count and newest id of each table, and the readings' count and time span."""
    ts = readings["ts"]
    parts = [len(alarms), max((a["id"] for a in alarms), default=0), len(verdicts),
             max((v["id"] for v in verdicts), default=0), len(ts),
             float(ts.min()) if len(ts) else 0.0, float(ts.max()) if len(ts) else 0.0]
    return "snap-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

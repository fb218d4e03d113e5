"""The cloud's data tables: one per synced table of the contract, plus the chunk ledger, skew and quarantine.

A data table's columns are its record model's fields (``cloud_sync.contract``),
so the contract and the schema cannot drift apart silently: a new record
field needs a migration, and ``tests/cloud/test_db.py`` fails until it has
one. Every row keeps the edge device (``device_id``), its site at ingest, the edge row id
and the per-row schema-skew ``flags``. ``UNIQUE (device_id, edge_id)`` on every
data table and ``UNIQUE (device, key)`` on the chunk ledger are what make
ingest exactly-once across retries and replicas.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from cloud_sync.contract.batch import column_kind
from cloud_sync.contract.tables import TABLES, TableSpec

from .metadata import metadata

ID = String(64)
# The column each table's time filters and dataset partitions use.
TIME_COLUMNS = {"alarms": "raised_ts", "exposure_minutes": "minute_ts"}


# Tables with one time index (per device), not also one per site: every index is written per row, and readings
# are most rows. A site's readings are found by the keyset pages the datasets walk in id order anyway.
DEVICE_TIME_ONLY = frozenset({"readings"})


def time_column(table: str) -> str:
    return TIME_COLUMNS.get(table, "ts")


def _column_type(spec: TableSpec, name: str) -> TypeEngine[object]:
    kind = column_kind(spec, name)
    annotation = spec.record.model_fields[name].annotation
    if kind == "f":
        return Float(53)
    if kind == "i":
        return Boolean() if annotation is bool or bool in getattr(annotation, "__args__", ()) else BigInteger()
    if kind == "s":
        return Text()
    if annotation is bytes:
        return LargeBinary()
    return JSON()


def _data_table(spec: TableSpec) -> Table:
    fields = [Column(name, _column_type(spec, name), nullable=not spec.record.model_fields[name].is_required())
              for name in spec.columns]
    extra = [UniqueConstraint("device_id", "alarm_id")] if spec.name == "alarms" else []
    return Table(
        spec.name, metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("device_id", ID, nullable=False),  # the edge device (a reading's own `device` is its sensor)
        Column("site", ID, nullable=False),
        Column("edge_id", BigInteger, nullable=False),
        *fields,
        Column("flags", JSON),
        Column("received_ts", Float(53), nullable=False),
        UniqueConstraint("device_id", "edge_id"),
        *_time_indexes(spec.name),
        *extra,
    )


def _time_indexes(table: str) -> list[Index]:
    indexes = [Index(f"ix_{table}_device_time", "device_id", time_column(table))]
    if table not in DEVICE_TIME_ONLY:
        indexes.append(Index(f"ix_{table}_site_time", "site", time_column(table)))
    return indexes


DATA_TABLES: dict[str, Table] = {name: _data_table(spec) for name, spec in TABLES.items()}

chunks = Table(
    "chunks", metadata,  # the ledger: one row per stored chunk, the idempotency key unique per device
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", ID, nullable=False),
    Column("tbl", String(32), nullable=False),
    Column("first_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),  # the chunk's share of the request body
    Column("received_ts", Float(53), nullable=False),
    UniqueConstraint("device_id", "key"),
)

skew = Table(
    "skew", metadata,  # schema skew per device, table, field and problem: counted, with one example
    Column("device_id", ID, primary_key=True),
    Column("tbl", String(32), primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("problem", String(16), primary_key=True),  # unexpected | missing | type | range
    Column("count", BigInteger, nullable=False),
    Column("first_ts", Float(53), nullable=False),
    Column("last_ts", Float(53), nullable=False),
    Column("example", Text),
)

quarantine = Table(
    "quarantine", metadata,  # what the cloud could not store, with why; kept for inspection
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", ID, nullable=False, index=True),
    Column("tbl", String(32)),
    Column("first_id", BigInteger),
    Column("last_id", BigInteger),
    Column("key", String(64)),
    Column("reason", Text, nullable=False),
    Column("received_ts", Float(53), nullable=False),
    Column("body", LargeBinary),
)

definitions = Table(
    "definitions", metadata,  # collected-data definitions edited by fleet admins; built-in defaults otherwise
    Column("device_type", ID, primary_key=True),
    Column("document", JSON, nullable=False),
    Column("updated_ts", Float(53), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

sync_requests = Table(
    "sync_requests", metadata,  # one row per batch request: the per-device sync history
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", ID, nullable=False),
    Column("ts", Float(53), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("durable", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Index("ix_sync_requests_device_ts", "device_id", "ts"),
)

"""Rows of one checked chunk into its data table, column-wise, skipping rows already stored.

One parameterised INSERT run with the DBAPI's ``executemany`` on the
transaction's own connection (no per-row SQLAlchemy objects: a batch of
readings is tens of thousands of rows). ``ON CONFLICT (device_id, edge_id)
DO NOTHING`` stores a row once whichever chunk brings it; an alarm is one row
per (device, alarm_id), replaced only by a higher edge id (a newer state).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Connection
from sqlalchemy.types import JSON

from cloud_sync.db.schema import DATA_TABLES

_META = ("device_id", "site", "edge_id")


def insert_rows(conn: Connection, table: str, device_id: str, site: str, edge_ids: Sequence[int],
                columns: dict[str, list[Any]], flags: Sequence[dict[str, Any] | None], received_ts: float) -> int:
    """Insert the rows; returns how many were new (for alarms: new or newer)."""
    names = [*_META, *columns, "flags", "received_ts"]
    data = DATA_TABLES[table]
    postgres = conn.dialect.name == "postgresql"
    converted = [_convert(data.c[name].type, values, postgres) for name, values in columns.items()]
    flag_values = [None if f is None else json.dumps(f) for f in flags]
    n = len(edge_ids)
    params = list(zip([device_id] * n, [site] * n, edge_ids, *converted, flag_values, [received_ts] * n))
    mark = "%s" if postgres else "?"
    placeholders = ", ".join(f"{mark}::json" if postgres and isinstance(data.c[name].type, JSON) else mark
                             for name in names)
    quoted = ", ".join(f'"{name}"' for name in names)
    sql = f'INSERT INTO {table} ({quoted}) VALUES ({placeholders})'
    if table == "alarms":
        updates = ", ".join(f'"{name}" = excluded."{name}"' for name in names if name not in ("device_id", "alarm_id"))
        sql += (f' ON CONFLICT (device_id, alarm_id) DO UPDATE SET {updates}'
                ' WHERE excluded.edge_id > alarms.edge_id')
    else:
        sql += " ON CONFLICT (device_id, edge_id) DO NOTHING"
    cursor = conn.connection.driver_connection.cursor()
    cursor.executemany(sql, params)
    return max(0, int(cursor.rowcount))  # both drivers sum executemany's rows


def _convert(kind: Any, values: list[Any], postgres: bool) -> list[Any]:
    if isinstance(kind, JSON):
        return [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
    if isinstance(kind, Boolean) and postgres:
        return [None if v is None else bool(v) for v in values]
    return values

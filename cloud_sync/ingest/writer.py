"""Rows of one checked chunk into its data table, column-wise, skipping rows already stored.

One parameterised INSERT run with the DBAPI's ``executemany`` on the
transaction's own connection; on PostgreSQL, ``COPY`` into a temp table and
one ``INSERT ... SELECT`` (alarms, few and upserted, keep executemany). No
per-row SQLAlchemy objects: a batch of readings is tens of thousands of rows. ``ON CONFLICT (device_id, edge_id)
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
    if postgres and table != "alarms":
        return _copy_rows(conn, table, names, params)
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


def _copy_rows(conn: Connection, table: str, names: list[str], params: list[tuple[Any, ...]]) -> int:
    """PostgreSQL: COPY into a transaction-scoped temp table, then one INSERT ... SELECT skipping stored rows.

    COPY moves rows several times faster than executemany; the temp table is
    dropped at commit, and emptied first when a batch has two chunks of a table.
    """
    quoted = ", ".join(f'"{name}"' for name in names)
    staging = f"_ingest_{table}"
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
                   f"SELECT {quoted} FROM {table} WITH NO DATA")
    cursor.execute(f"TRUNCATE {staging}")
    with cursor.copy(f"COPY {staging} ({quoted}) FROM STDIN") as copy:
        for row in params:
            copy.write_row(row)
    cursor.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM {staging} "
                   "ON CONFLICT (device_id, edge_id) DO NOTHING")
    return max(0, int(cursor.rowcount))


def _convert(kind: Any, values: list[Any], postgres: bool) -> list[Any]:
    if isinstance(kind, JSON):
        return [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
    if isinstance(kind, Boolean) and postgres:
        return [None if v is None else bool(v) for v in values]
    return values

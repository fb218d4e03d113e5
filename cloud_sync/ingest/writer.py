"""Rows of one checked chunk into its data table, column-wise, skipping rows already stored.

:func:`build_rows` makes the parameter tuples (outside the transaction, so
a batch can be prepared while another one is written); :func:`insert_rows`
runs one parameterised INSERT with the DBAPI's ``executemany`` on the
transaction's own connection; on PostgreSQL, ``COPY`` into a temp table and
one ``INSERT ... SELECT`` (alarms, few and upserted, keep executemany). No
per-row SQLAlchemy objects: a batch of readings is tens of thousands of rows. ``ON CONFLICT (device_id, edge_id)
DO NOTHING`` stores a row once whichever chunk brings it; an alarm is one row
per (device, alarm_id), replaced only by a higher edge id (a newer state).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from sqlalchemy import Boolean, Connection
from sqlalchemy.types import JSON

from cloud_sync.db.schema import DATA_TABLES

_META = ("device_id", "site", "edge_id")
_MISSING = object()


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON text of a value, as ``json.dumps(value, separators=(",", ":"))`` writes it.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which costs as
    much as encoding a reading's ``extra``; here one is built once and reused
    (without the cycle check: the values were parsed from JSON text or
    msgpack, so they cannot refer to themselves).
    """
    plain = json.JSONEncoder(separators=(",", ":"))
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]  # None without CPython's _json
    if make is None:
        return plain.encode
    chunks = make(None, plain.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda value: "".join(chunks(value, 0))


_JSON = _compact_encoder()


@dataclass(frozen=True, slots=True)
class Rows:
    """One chunk's rows as the INSERT binds them: built before the transaction, written inside it."""

    table: str
    names: list[str]
    params: list[tuple[Any, ...]]


def build_rows(table: str, device_id: str, site: str, edge_ids: Sequence[int], columns: dict[str, list[Any]],
               flags: Sequence[dict[str, Any] | None], received_ts: float, *, postgres: bool) -> Rows:
    """The parameter tuples: the checked columns zipped with the batch's constants (no dict per row)."""
    data = DATA_TABLES[table]
    converted = [_convert(data.c[name].type, values, postgres) for name, values in columns.items()]
    # the constants repeat: zip stops at the first column that ends (edge_ids)
    params = list(zip(repeat(device_id), repeat(site), edge_ids, *converted, _json_texts(flags),
                      repeat(received_ts)))
    return Rows(table, [*_META, *columns, "flags", "received_ts"], params)


def insert_rows(conn: Connection, rows: Rows) -> int:
    """Insert the rows; returns how many were new (for alarms: new or newer)."""
    table, names = rows.table, rows.names
    postgres = conn.dialect.name == "postgresql"
    if postgres and table != "alarms":
        return _copy_rows(conn, table, names, rows.params)
    data = DATA_TABLES[table]
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
    cursor.executemany(sql, rows.params)
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
        return _json_texts(values)
    if isinstance(kind, Boolean) and postgres:
        return [None if v is None else bool(v) for v in values]
    return values


def _json_texts(values: Sequence[Any]) -> list[str | None]:
    """Compact JSON text per value, each distinct object encoded once: the codec decodes a repeated text
    (a gas sensor's ``{"unit":"ppm"}``) into one shared object, so it is encoded once per batch too."""
    texts: dict[int, str | None] = {id(None): None}
    out = []
    for value in values:
        text = texts.get(id(value), _MISSING)
        if text is _MISSING:
            text = texts[id(value)] = _JSON(value)
        out.append(text)
    return out

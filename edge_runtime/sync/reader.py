"""Outbox rows as batch chunks: each synced table's SQLite columns mapped to its contract record.

Reads run on a query-only connection (WAL: they never wait for the store
process's writer, nor hold it up), from the outbox's in-memory mark on. Most
tables store their record's fields as they are; the exceptions are here:

* ``alarms`` also holds restore-only columns (left out) and stores booleans as
  integers and its lists as JSON (decoded as ``rows.alarm_record`` does);
* ``snapshots`` holds the JPEG's path: the bytes are read from the file when
  the row is sent. A file the snapshot folder's budget has already deleted is
  skipped and counted (the range still covers it: it is not coming back).

JSON objects (a reading's ``extra``, a snapshot's ``model``) stay the text
SQLite holds: the codec's ``j`` columns take text.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.tables import TABLES
from edge_runtime.store import Outbox
from edge_runtime.store.connection import ReadConnection
from edge_runtime.store.rows import alarm_record

Row = dict[str, Any]

# The column that says when a row happened: its age decides when a partial batch goes.
TIME_COLUMNS: dict[str, str] = {
    "alarms": "updated_ts", "transitions": "ts", "verdicts": "ts", "zone_actions": "ts",
    "exposure_minutes": "minute_ts", "readings": "ts", "snapshots": "ts",
}
NUMBER_BYTES = 8  # what a stored number counts towards a batch's bytes


@dataclass(frozen=True, slots=True)
class Source:
    """How one table's rows become records: the columns read, the conversion, the bytes a row weighs."""

    columns: tuple[str, ...]
    convert: Callable[[Row], Row | None]  # None: the row cannot be sent (counted as missing)
    payload: str | None = None  # a column holding the size of what the row sends besides itself

    def select(self, table: str) -> str:
        names = ", ".join(f'"{c}"' for c in ("id", *self.columns))
        return f"SELECT {names} FROM {table} WHERE id > ? ORDER BY id LIMIT ?"

    def weight(self, row: Row) -> int:
        size = sum(len(v) if isinstance(v, (str, bytes)) else NUMBER_BYTES for v in row.values())
        return size + (int(row[self.payload]) if self.payload else 0)


def _as_stored(row: Row) -> Row:
    return row


def _snapshot(row: Row) -> Row | None:
    try:
        jpeg = Path(row["path"]).read_bytes()
    except OSError:
        return None
    return {**row, "detections": json.loads(row["detections"]), "jpeg": jpeg}


def _sources() -> dict[str, Source]:
    sources = {name: Source(spec.columns, _as_stored) for name, spec in TABLES.items()}
    sources["alarms"] = Source(TABLES["alarms"].columns, alarm_record)
    snapshot_columns = tuple(c for c in TABLES["snapshots"].columns if c != "jpeg")
    sources["snapshots"] = Source((*snapshot_columns, "path", "bytes"), _snapshot, payload="bytes")
    return sources


SOURCES = _sources()


@dataclass(frozen=True, slots=True)
class Probe:
    """What a table has waiting, cheaply: the oldest row's time (None: nothing) and whether a full batch."""

    oldest_ts: float | None
    full: bool


@dataclass(frozen=True, slots=True)
class TableRead:
    chunk: Chunk
    stored_bytes: int
    more: bool  # the table had more rows waiting than the chunk took
    missing: int  # snapshot rows skipped: their file was gone


class OutboxReader:
    """Reads what the outbox still has to send; ``outbox`` holds the marks (in memory, moved on receipts)."""

    def __init__(self, conn: ReadConnection, outbox: Outbox) -> None:
        self._conn = conn
        self._outbox = outbox

    def probe(self, table: str, rows: int) -> Probe:
        mark = self._outbox.high_water_mark(table)
        first = self._conn.query(f"SELECT {TIME_COLUMNS[table]} AS ts FROM {table} WHERE id > ? ORDER BY id LIMIT 1",
                                 (mark,))
        if not first:
            return Probe(None, False)
        full = self._conn.query(f"SELECT 1 FROM {table} WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?", (mark, rows - 1))
        return Probe(first[0]["ts"], bool(full))

    def read(self, table: str, max_rows: int, max_bytes: int) -> TableRead | None:
        """The next chunk of ``table``: at most ``max_rows`` rows and (but for a first row) ``max_bytes``."""
        source = SOURCES[table]
        rows = self._conn.query(source.select(table), (self._outbox.high_water_mark(table), max_rows + 1))
        if not rows:
            return None
        more = len(rows) > max_rows
        taken, size = [], 0
        for row in rows[:max_rows]:
            weight = source.weight(row)
            if taken and size + weight > max_bytes:
                more = True
                break
            taken.append(row)
            size += weight
        converted = [(row["id"], source.convert(row)) for row in taken]
        records = [(rowid, record) for rowid, record in converted if record is not None]
        fields = TABLES[table].columns
        chunk = Chunk(table, taken[0]["id"], taken[-1]["id"], [rowid for rowid, _ in records],
                      {name: [record[name] for _, record in records] for name in fields})
        return TableRead(chunk, size, more, len(taken) - len(records))

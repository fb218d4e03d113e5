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

Rows come as tuples and become columns by one transposition (no dict per
row for the tables stored as their records); each row's weight is computed
by SQLite in the same query. The reader hands out rows after a cursor of its
own, so the agent can read the next batch while the previous one is still in
flight: the cursor runs ahead of the outbox's mark (which moves on receipts
only) and goes back to it on :meth:`OutboxReader.rewind`.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
        """Rows after an id, at most a number of them: the id, the columns, and the row's weight last."""
        names = ", ".join(f'"{c}"' for c in ("id", *self.columns))
        return f"SELECT {names}, {self._weight()} AS weight FROM {table} WHERE id > ? ORDER BY id LIMIT ?"

    @property
    def as_stored(self) -> bool:
        """The stored columns are the record's fields as they are (no conversion per row)."""
        return self.convert is _as_stored

    def _weight(self) -> str:
        """A text or blob counts its length, anything else (numbers, null, the id) ``NUMBER_BYTES``."""
        sizes = [f"""CASE WHEN typeof("{c}") IN ('text', 'blob') THEN length("{c}") ELSE {NUMBER_BYTES} END"""
                 for c in self.columns]
        payload = [f'coalesce("{self.payload}", 0)'] if self.payload else []
        return f"({' + '.join([str(NUMBER_BYTES), *sizes, *payload])})"


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
    after: int  # the id the chunk was read after: its mark may move only from there
    stored_bytes: int
    more: bool  # the table had more rows waiting than the chunk took
    missing: int  # snapshot rows skipped: their file was gone


class OutboxReader:
    """Reads what the outbox still has to send, after the outbox's mark or the rows already handed out."""

    def __init__(self, conn: ReadConnection, outbox: Outbox) -> None:
        self._conn = conn
        self._outbox = outbox
        self._handed_out: dict[str, int] = {}  # table -> the last id read into a batch not yet answered

    def after(self, table: str) -> int:
        """The id the next chunk of ``table`` starts after."""
        return max(self._outbox.high_water_mark(table), self._handed_out.get(table, 0))

    def rewind(self) -> None:
        """Read from the marks again: what was handed out since is not (all) in the cloud."""
        self._handed_out.clear()

    def probe(self, table: str, rows: int) -> Probe:
        after = self.after(table)
        first = self._conn.query(f"SELECT {TIME_COLUMNS[table]} AS ts FROM {table} WHERE id > ? ORDER BY id LIMIT 1",
                                 (after,))
        if not first:
            return Probe(None, False)
        full = self._conn.query(f"SELECT 1 FROM {table} WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?", (after, rows - 1))
        return Probe(first[0]["ts"], bool(full))

    def read(self, table: str, max_rows: int, max_bytes: int) -> TableRead | None:
        """The next chunk of ``table``: at most ``max_rows`` rows and (but for a first row) ``max_bytes``."""
        source = SOURCES[table]
        after = self.after(table)
        with self._conn.cursor() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples
            rows = cursor.execute(source.select(table), (after, max_rows + 1)).fetchall()
        if not rows:
            return None
        columns = list(zip(*rows[:max_rows]))
        sizes = np.cumsum(np.asarray(columns[-1], dtype=np.int64))
        taken = max(1, int(np.searchsorted(sizes, max_bytes, side="right")))
        more = len(rows) > taken
        ids = columns[0][:taken]
        if source.as_stored:
            records = {name: list(values[:taken]) for name, values in zip(source.columns, columns[1:-1])}
            chunk, missing = Chunk(table, ids[0], ids[-1], list(ids), records), 0
        else:
            chunk, missing = _converted(table, source, [row[:-1] for row in rows[:taken]])
        self._handed_out[table] = chunk.last_id
        return TableRead(chunk, after, int(sizes[taken - 1]), more, missing)


def _converted(table: str, source: Source, rows: list[tuple[Any, ...]]) -> tuple[Chunk, int]:
    """A chunk of rows converted one by one (alarms, snapshots), and how many could not be sent."""
    names = ("id", *source.columns)
    converted = [(row[0], source.convert(dict(zip(names, row)))) for row in rows]
    records = [(rowid, record) for rowid, record in converted if record is not None]
    fields = TABLES[table].columns
    chunk = Chunk(table, rows[0][0], rows[-1][0], [rowid for rowid, _ in records],
                  {name: [record[name] for _, record in records] for name in fields})
    return chunk, len(rows) - len(records)

"""Ingest: a decoded, authenticated batch into the database in one transaction, exactly once.

Per chunk: claim its key in the chunk ledger (``ON CONFLICT DO NOTHING`` on
(device, key)); a key already there means the chunk is stored (by an earlier
try, or by another replica at the same moment: the unique index makes the
second one wait for the first's commit, then skip). Otherwise check it
against the device type's definition (skew is flagged and counted, never a
reason to drop rows) and insert its rows. A chunk whose rows cannot be stored
at all is rejected with the reason and kept in the cloud's quarantine; the
rest of the batch is still stored. The receipt is answered only after the
commit, so "durable" means durable.

On SQLite, batches arriving at once (an agent keeps more than one in flight)
take turns on a lock of the process before their transaction: SQLite has one
writer, and its busy handler would otherwise wait in sleeps of up to 100 ms.
Decoding, checking and building the rows of the next batch happen before
that, so they overlap the previous one's writes (sqlite3 releases the GIL
while it steps).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, delete, insert
from sqlalchemy.dialects import postgresql, sqlite

from cloud_sync.contract.batch import Batch, Chunk, Durable, Receipt, Rejected
from cloud_sync.db.schema import chunks, quarantine, skew, sync_requests, time_column
from cloud_sync.definitions import DefinitionStore
from cloud_sync.definitions.check import Checked, ChunkRefused, Skew, check

from .stats import IngestStats
from .writer import Rows, build_rows, insert_rows


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The authenticated device a batch came from, as the registry knows it."""

    id: str
    site: str
    device_type: str


class Ingest:
    def __init__(self, engine: Engine, definitions: DefinitionStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._definitions = definitions or DefinitionStore(engine)
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._writer: AbstractContextManager[object] = nullcontext() if self._postgres else threading.Lock()
        self.stats = IngestStats()

    def ingest(self, device: DeviceRef, batch: Batch, body_bytes: int) -> Receipt:
        """Store ``batch`` and say which ranges are durable; blocking (run it off the event loop)."""
        started = time.perf_counter()
        now = self._clock()
        prepared = self._prepare(device, batch, now)
        receipt = Receipt()
        newest: float | None = None
        with self._writer, self._engine.begin() as conn:
            for chunk, ready in zip(batch.chunks, prepared):
                key = chunk.key(device.id)
                share = body_bytes * chunk.rows // batch.rows if batch.rows else 0
                if not _claim(conn, device.id, chunk, key, share, now):
                    receipt.durable.append(Durable(table=chunk.table, first_id=chunk.first_id,
                                                   last_id=chunk.last_id, key=key, rows=chunk.rows, duplicate=True))
                    continue
                if isinstance(ready, ChunkRefused):
                    _quarantine(conn, device.id, chunk, key, str(ready), now)
                    receipt.rejected.append(Rejected(table=chunk.table, first_id=chunk.first_id,
                                                     last_id=chunk.last_id, key=key, rows=chunk.rows,
                                                     reason=str(ready)))
                    continue
                checked, rows = ready
                insert_rows(conn, rows)
                _count_skew(conn, device.id, chunk.table, checked.skew, now)
                newest = _newest(chunk.table, checked, newest)
                receipt.durable.append(Durable(table=chunk.table, first_id=chunk.first_id, last_id=chunk.last_id,
                                               key=key, rows=chunk.rows))
            conn.execute(insert(sync_requests).values(
                device_id=device.id, ts=now, rows=batch.rows, bytes=body_bytes,
                durable=sum(1 for d in receipt.durable if not d.duplicate),
                duplicates=sum(1 for d in receipt.durable if d.duplicate), rejected=len(receipt.rejected),
                duration_ms=(time.perf_counter() - started) * 1000))
        self._count(device.id, batch, body_bytes, receipt, now, newest)
        return receipt

    def _prepare(self, device: DeviceRef, batch: Batch, now: float) -> list[tuple[Checked, Rows] | ChunkRefused]:
        """Each chunk checked against the device type's definition and made into rows, or why it cannot be
        stored; before the transaction, so this overlaps another batch's writes (a chunk the ledger already has
        is then skipped: the work is lost only on a re-send)."""
        definition = self._definitions.get(device.device_type)
        prepared: list[tuple[Checked, Rows] | ChunkRefused] = []
        for chunk in batch.chunks:
            try:
                checked = check(chunk, definition)
            except ChunkRefused as refused:
                prepared.append(refused)
                continue
            prepared.append((checked, build_rows(chunk.table, device.id, device.site, np.asarray(chunk.ids).tolist(),
                                                 checked.columns, checked.flags, now, postgres=self._postgres)))
        return prepared

    def quarantine_body(self, device_id: str, body: bytes, reason: str) -> None:
        """Keep a body that is not a batch at all (the service answered 400), with why."""
        with self._engine.begin() as conn:
            conn.execute(insert(quarantine).values(device_id=device_id, reason=reason, received_ts=self._clock(),
                                                   body=body))
        self.stats.device(device_id).rejects[_reason_class(reason)] += 1

    def _count(self, device_id: str, batch: Batch, body_bytes: int, receipt: Receipt, now: float,
               newest: float | None) -> None:
        stats = self.stats.device(device_id)
        stats.batches += 1
        stats.bytes += body_bytes
        stats.last_ingest_ts = now
        stored = {(d.table, d.key) for d in receipt.durable if not d.duplicate}
        for chunk in batch.chunks:
            if (chunk.table, chunk.key(device_id)) in stored:
                stats.rows[chunk.table] += chunk.rows
        stats.duplicates += sum(1 for d in receipt.durable if d.duplicate)
        for rejected in receipt.rejected:
            stats.rejects[_reason_class(rejected.reason)] += 1
        if newest is not None and (stats.newest_row_ts is None or newest > stats.newest_row_ts):
            stats.newest_row_ts = newest


def _claim(conn: Connection, device_id: str, chunk: Chunk, key: str, share: int, now: float) -> bool:
    """Insert the chunk's ledger row (``share``: its part of the body, by rows); False when the key is already there."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(chunks).values(
        device_id=device_id, tbl=chunk.table, first_id=chunk.first_id, last_id=chunk.last_id, key=key,
        rows=chunk.rows, bytes=share, received_ts=now).on_conflict_do_nothing(index_elements=["device_id", "key"])
    return conn.execute(statement.returning(chunks.c.id)).first() is not None  # rowcount is -1 with RETURNING


def _quarantine(conn: Connection, device_id: str, chunk: Chunk, key: str, reason: str, now: float) -> None:
    """Keep the refused chunk's range with why, and release its ledger claim: a re-send is refused again,
    never answered durable for rows that were not stored."""
    conn.execute(delete(chunks).where(chunks.c.device_id == device_id, chunks.c.key == key))
    conn.execute(insert(quarantine).values(device_id=device_id, tbl=chunk.table, first_id=chunk.first_id,
                                           last_id=chunk.last_id, key=key, reason=reason, received_ts=now))


def _count_skew(conn: Connection, device_id: str, table: str, found: Skew, now: float) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for (name, problem), count in found.counts.items():
        statement = dialect.insert(skew).values(device_id=device_id, tbl=table, field=name, problem=problem,
                                                count=count, first_ts=now, last_ts=now,
                                                example=found.examples.get((name, problem)))
        conn.execute(statement.on_conflict_do_update(
            index_elements=["device_id", "tbl", "field", "problem"],
            set_={"count": skew.c["count"] + statement.excluded["count"], "last_ts": now}))


def _newest(table: str, checked: Checked, newest: float | None) -> float | None:
    times = [t for t in checked.columns.get(time_column(table), []) if t is not None]
    if not times:
        return newest
    top = max(times)
    return top if newest is None or top > newest else newest


def _reason_class(reason: str) -> str:
    """A short, bounded label for a reason (Prometheus labels must not carry free text)."""
    for label in ("missing", "null", "key", "table", "column", "zstd", "msgpack", "version", "rows"):
        if label in reason:
            return label
    return "other"

"""Ingest stores every row exactly once, flags skew without losing rows, and refuses only unstorable chunks."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import Engine, func, select

from cloud_sync.contract.batch import Batch, Chunk
from cloud_sync.contract.records import AlarmRecord, ReadingRecord
from cloud_sync.db.schema import DATA_TABLES, quarantine, skew, sync_requests
from cloud_sync.ingest import DeviceRef, Ingest

DEVICE = DeviceRef("edge-1", "site-a", "rpi-edge")
NAMES = list(ReadingRecord.model_fields)


def readings(first: int, last: int, *, hr: float = 72.0) -> Chunk:
    ids = list(range(first, last + 1))
    n = len(ids)
    columns = {"device": ["wb-1"] * n, "kind": ["hr"] * n, "ts": np.arange(n, dtype=float) + first,
               "v1": np.full(n, hr), "v2": np.full(n, np.nan), "v3": np.full(n, np.nan), "extra": [None] * n}
    return Chunk("readings", first, last, ids, columns)


def alarm(edge_id: int, state: str) -> Chunk:
    record = AlarmRecord(alarm_id="a1", subject="worker:w1", condition="gas_high:H2S", kind="gas_high",
                         priority="high", state=state, message="H2S", raised_ts=1.0, updated_ts=float(edge_id),
                         latching=True, condition_active=True, workers=["w1"])
    return Chunk("alarms", edge_id, edge_id, [edge_id], {k: [v] for k, v in record.model_dump().items()})


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(DATA_TABLES[table])).scalar_one())


def test_a_resent_batch_is_durable_again_and_stored_once(cloud_engine: Engine) -> None:
    ingest = Ingest(cloud_engine)
    batch = Batch("edge-1", 0.0, (readings(1, 100), alarm(5, "unack_active")))
    first = ingest.ingest(DEVICE, batch, 1000)
    again = ingest.ingest(DEVICE, batch, 1000)
    assert [d.duplicate for d in first.durable] == [False, False]
    assert [d.duplicate for d in again.durable] == [True, True]
    assert count(cloud_engine, "readings") == 100 and count(cloud_engine, "alarms") == 1
    with cloud_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_requests)).scalar_one() == 2


def test_ranges_recut_after_a_crash_still_store_each_row_once(cloud_engine: Engine) -> None:
    ingest = Ingest(cloud_engine)
    ingest.ingest(DEVICE, Batch("edge-1", 0.0, (readings(1, 60),)), 10)
    receipt = ingest.ingest(DEVICE, Batch("edge-1", 0.0, (readings(1, 150),)), 10)
    assert not receipt.durable[0].duplicate
    assert count(cloud_engine, "readings") == 150


def test_an_alarm_keeps_its_newest_state(cloud_engine: Engine) -> None:
    ingest = Ingest(cloud_engine)
    for edge_id, state in ((3, "unack_active"), (9, "normal"), (7, "ack_active")):  # 7 arrives late
        ingest.ingest(DEVICE, Batch("edge-1", 0.0, (alarm(edge_id, state),)), 10)
    with cloud_engine.connect() as conn:
        rows = conn.execute(select(DATA_TABLES["alarms"].c.state, DATA_TABLES["alarms"].c.edge_id)).all()
    assert [tuple(r) for r in rows] == [("normal", 9)]


def test_skew_is_flagged_and_counted_and_nothing_is_lost(cloud_engine: Engine) -> None:
    chunk = readings(1, 10, hr=400.0)  # out of the hr range
    chunk = Chunk("readings", 1, 10, chunk.ids, {**chunk.columns, "firmware": ["2.1"] * 10})
    Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (chunk,)), 10)
    table = DATA_TABLES["readings"]
    with cloud_engine.connect() as conn:
        flags = [row.flags for row in conn.execute(select(table.c.flags))]
        found = {(r.field, r.problem): r.count for r in conn.execute(select(skew))}
    assert len(flags) == 10 and flags[0] == {"unexpected": {"firmware": "2.1"}, "range": ["v1"]}
    assert found == {("firmware", "unexpected"): 10, ("v1", "range"): 10}


def test_a_chunk_without_its_identity_is_rejected_and_the_rest_stored(cloud_engine: Engine) -> None:
    broken = readings(1, 5)
    broken = Chunk("readings", 1, 5, broken.ids, {k: v for k, v in broken.columns.items() if k != "ts"})
    batch = Batch("edge-1", 0.0, (broken, readings(6, 9)))
    receipt = Ingest(cloud_engine).ingest(DEVICE, batch, 10)
    assert [r.reason for r in receipt.rejected] == ["readings: the required field 'ts' is missing"]
    assert len(receipt.durable) == 1 and count(cloud_engine, "readings") == 4
    again = Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (broken,)), 10)
    assert len(again.rejected) == 1 and not again.durable  # never durable: its rows were not stored
    with cloud_engine.connect() as conn:
        reasons = conn.execute(select(quarantine.c.reason)).scalars().all()
    assert len(reasons) == 2 and all(r.endswith("'ts' is missing") for r in reasons)


def test_two_ingesters_at_once_store_every_row_once(cloud_engine: Engine) -> None:
    batches = [Batch("edge-1", 0.0, (readings(i * 500 + 1, i * 500 + 500),)) for i in range(8)]
    ingesters = [Ingest(cloud_engine), Ingest(cloud_engine)]
    errors: list[BaseException] = []

    def run(ingest: Ingest) -> None:
        try:
            for batch in batches:
                ingest.ingest(DEVICE, batch, 10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in ingesters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and count(cloud_engine, "readings") == 4000


def test_bulk_rate(cloud_engine: Engine) -> None:
    """Not a target (bench/sync.py has those): prints the rate for the record."""
    batch = Batch("edge-1", 0.0, (readings(1, 50_000),))
    started = time.perf_counter()
    Ingest(cloud_engine).ingest(DEVICE, batch, 10)
    elapsed = time.perf_counter() - started
    print(f"\n{cloud_engine.dialect.name}: {50_000 / elapsed:,.0f} readings/s")
    assert count(cloud_engine, "readings") == 50_000


def test_json_fields_are_stored_as_compact_json_text(cloud_engine: Engine) -> None:
    """The text each stored object gets is json.dumps' compact one, for shared and distinct objects alike."""
    unit = {"unit": "ppm"}  # the codec decodes a repeated text into one shared object
    extras = [unit, None, unit, {"fix": True, "alt": 2.5, "name": "é\"x", "sats": [9, 10]}]
    chunk = readings(1, 4)
    chunk = Chunk("readings", 1, 4, chunk.ids, {**chunk.columns, "extra": extras})
    Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (chunk,)), 10)
    with cloud_engine.connect() as conn:
        texts = [row[0] for row in conn.exec_driver_sql("SELECT CAST(extra AS TEXT) FROM readings ORDER BY edge_id")]
    assert texts == [None if e is None else json.dumps(e, separators=(",", ":")) for e in extras]


def test_batches_at_once_on_one_ingest_store_every_row_once(cloud_engine: Engine) -> None:
    """What an agent with batches in flight does: one service's threads ingesting at the same time."""
    ingest = Ingest(cloud_engine)
    batches = [Batch("edge-1", 0.0, (readings(i * 500 + 1, i * 500 + 500),)) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        receipts = list(pool.map(lambda b: ingest.ingest(DEVICE, b, 10), [*batches, *batches]))
    durable = [d for r in receipts for d in r.durable]
    assert len(durable) == 16 and sum(d.duplicate for d in durable) == 8
    assert count(cloud_engine, "readings") == 4000

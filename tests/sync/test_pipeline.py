"""Batches in flight at once: a mark never passes a range the cloud has not confirmed, a failure ahead of a
stored batch costs a re-send and nothing else, events are not held behind bulk answers, and a SIGKILL with two
batches on the wire loses and duplicates nothing. Also the reader's cursor and its byte bound."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from edge_runtime.store import Outbox, Store
from edge_runtime.store.connection import ReadConnection
from edge_runtime.sync.reader import NUMBER_BYTES, OutboxReader
from edge_runtime.sync.supervisor import SyncSupervisor
from firmware_bridge.backoff import Backoff
from tests.store.conftest import gas, make_alarm, transition

from .cloud_double import FAIL_503, LOST_RECEIPT, CloudDouble
from .conftest import agent_spec, committed_marks, running, sync_settings, until

READINGS = 6_000
BATCH_ROWS = 1_000


def fill(store: Store, readings: int = READINGS) -> None:
    rng = random.Random(3)
    for i in range(readings):
        store.record_observation(gas(device=f"det-{i % 4}", value=rng.random(), ts=1_000.0 + i))
    assert store.flush()


class MarkWatch:
    """Polls the committed readings mark: every id up to it must be in the cloud whenever it is read."""

    def __init__(self, db_path: Path, cloud: CloudDouble) -> None:
        self.db_path, self.cloud = db_path, cloud
        self.most_in_flight = 0
        self.broken: list[tuple[int, int]] = []  # (mark, first id below it the cloud lacks)

    async def run(self) -> None:
        while True:
            self.most_in_flight = max(self.most_in_flight, self.cloud.in_flight)
            mark = committed_marks(self.db_path).get("readings", 0)
            stored = self.cloud.rows["readings"]
            missing = next((i for i in range(1, mark + 1) if i not in stored), None)
            if missing is not None:
                self.broken.append((mark, missing))
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("failure", [FAIL_503, LOST_RECEIPT])
async def test_a_failed_batch_ahead_of_a_stored_one_moves_no_mark_past_it(
        store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path, failure: str) -> None:
    fill(store)
    cloud.delay_s = 0.15  # answers come late: the next batch is on the wire meanwhile
    cloud.script.append(failure)  # the first batch fails (503) or is stored but its receipt is lost
    settings = sync_settings(cloud.url, credential_file, max_rows=BATCH_ROWS, max_in_flight=2)
    watch = MarkWatch(db_path, cloud)
    watcher = asyncio.create_task(watch.run())
    try:
        async with running(agent_spec(store, settings, db_path)):
            await until(lambda: store.flush() and committed_marks(db_path).get("readings") == READINGS,
                        timeout=20.0, what="every mark committed")
    finally:
        watcher.cancel()
    assert watch.most_in_flight == 2 and not watch.broken
    assert cloud.stored(table="readings") == list(range(1, READINGS + 1))
    assert cloud.stored_again == 0  # what went again went as the same ranges
    assert cloud.duplicates >= 1  # the batch behind the failed one was stored, then re-sent and answered duplicate
    statuses = [r.status for r in cloud.requests]
    assert statuses[0] == (503 if failure == FAIL_503 else 0) and statuses[1] == 200


async def test_an_alarm_goes_while_bulk_batches_are_in_flight(
        store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path) -> None:
    fill(store, readings=4_000)
    cloud.delay_s = 0.6
    settings = sync_settings(cloud.url, credential_file, max_rows=BATCH_ROWS, max_in_flight=2)
    async with running(agent_spec(store, settings, db_path)):
        await until(lambda: cloud.in_flight == 2, what="two bulk batches in flight")
        store.record_transition(transition(make_alarm("late")))
        assert store.flush()
        recorded = time.monotonic()
        await until(lambda: cloud.rows["alarms"] and cloud.rows["transitions"], what="the alarm in the cloud")
        took = max(t for (table, _), t in cloud.stored_at.items() if table in ("alarms", "transitions")) - recorded
        await until(lambda: len(cloud.rows["readings"]) == 4_000, what="every reading")
    assert took < cloud.delay_s  # not held until the bulk batches ahead of it were answered


async def test_sigkill_with_two_batches_in_flight_loses_and_duplicates_nothing(
        store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path) -> None:
    fill(store, readings=16_000)
    cloud.delay_s = 0.2
    settings = sync_settings(cloud.url, credential_file, max_rows=2_000, max_in_flight=2)
    supervisor = SyncSupervisor(agent_spec(store, settings, db_path), backoff=Backoff(initial=0.1, maximum=0.5))
    await supervisor.start(store.producer_address)
    try:
        await until(lambda: len(cloud.rows["readings"]) >= 4_000 and cloud.in_flight == 2, timeout=20.0,
                    what="two uploads in flight")
        os.kill(supervisor.pid or 0, signal.SIGKILL)
        await until(lambda: supervisor.restarts == 1 and supervisor.alive, what="restarted")
        await until(lambda: store.flush() and committed_marks(db_path).get("readings") == 16_000, timeout=30.0,
                    what="every mark committed")
    finally:
        await supervisor.stop(timeout=5.0)
    assert cloud.stored(table="readings") == list(range(1, 16_001))
    assert cloud.stored_again == 0 and cloud.duplicates >= 1


def test_the_reader_hands_out_ranges_after_its_cursor_and_goes_back_to_the_mark(store: Store, db_path: Path) -> None:
    fill(store, readings=50)
    conn = ReadConnection(db_path)
    try:
        outbox = Outbox(lambda write: None, time.time)
        outbox.attach(conn)
        reader = OutboxReader(conn, outbox)
        first = reader.read("readings", 20, 10**9)
        second = reader.read("readings", 20, 10**9)
        assert first is not None and second is not None
        assert (first.after, first.chunk.first_id, first.chunk.last_id) == (0, 1, 20)
        assert (second.after, second.chunk.first_id, second.chunk.last_id) == (20, 21, 40)
        assert reader.probe("readings", 20).full is False  # 10 rows left after the cursor
        outbox.mark_synced("readings", 20)
        reader.rewind()  # batch two was not confirmed: read from the mark again
        again = reader.read("readings", 20, 10**9)
        assert again is not None and (again.after, again.chunk.first_id) == (20, 21)
    finally:
        conn.close()


def test_the_byte_bound_counts_what_the_row_stores(store: Store, db_path: Path) -> None:
    fill(store, readings=30)
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT id, device, kind, ts, v1, v2, v3, extra FROM readings ORDER BY id").fetchall()
    weights = [sum(len(v) if isinstance(v, (str, bytes)) else NUMBER_BYTES for v in row) for row in rows]
    bound = sum(weights[:7]) + weights[7] // 2  # seven rows fit, the eighth does not
    conn = ReadConnection(db_path)
    try:
        outbox = Outbox(lambda write: None, time.time)
        outbox.attach(conn)
        read = OutboxReader(conn, outbox).read("readings", 100, bound)
        one = OutboxReader(conn, outbox).read("readings", 100, 1)
    finally:
        conn.close()
    assert read is not None and read.chunk.rows == 7 and read.stored_bytes == sum(weights[:7]) and read.more
    assert read.chunk.columns["extra"][0] == rows[0][7]  # the stored JSON text, handed to the codec as it is
    assert one is not None and one.chunk.rows == 1  # a first row always goes, whatever it weighs

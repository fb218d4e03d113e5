"""The writer thread (in the store process): batching, timed flushes, priority commits, bounded queue, disk errors."""
from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from functools import partial
from pathlib import Path

from sqlite_utils import Database

from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import Store
from edge_runtime.store.connection import connect
from edge_runtime.store.intake import Intake
from edge_runtime.store.journal import Journal
from edge_runtime.store.messages import Batch
from edge_runtime.store.migrations import migrate
from edge_runtime.store.rows import TRANSITION_SQL, reading_row, transition_row
from edge_runtime.store.stats import StoreStats
from edge_runtime.store.writer import Write, Writer

from .conftest import StoreFactory, gas, make_alarm, probe, transition, wait_for

SLOW_TIMER = {"flush_interval_s": 30.0}  # the timer never fires during these tests


def has_transition(conn: sqlite3.Connection, alarm_id: str) -> bool:
    return conn.execute("SELECT 1 FROM transitions WHERE alarm_id = ?", (alarm_id,)).fetchone() is not None


def committed_readings(path: Path) -> int:
    with probe(path) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


def test_readings_wait_for_a_full_batch(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store(batch_size=100, **SLOW_TIMER)
    for _ in range(99):
        store.record_observation(gas())
    time.sleep(0.2)
    assert committed_readings(db_path) == 0

    store.record_observation(gas())
    wait_for(lambda: committed_readings(db_path) == 100, timeout=2)
    wait_for(lambda: store.stats.rows_written.get("readings") == 100, timeout=2)  # the periodic report


def test_readings_are_flushed_by_the_timer(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store(batch_size=10_000, flush_interval_s=0.05)
    for _ in range(10):
        store.record_observation(gas())
    wait_for(lambda: committed_readings(db_path) == 10, timeout=2)


def test_flush_waits_for_everything_queued(store: Store, db_path: Path) -> None:
    for i in range(5_000):
        store.record_observation(gas(value=i))
    store.record_exposure_minute("w7", "H2S", 60.0, 2.5)
    assert store.flush()
    assert committed_readings(db_path) == store.readings_count() == 5_000
    assert store.stats.queue_depth == 0
    assert store.stats.rows_written == {"readings": 5_000, "exposure_minutes": 1}


def test_transition_is_durable_within_milliseconds_while_readings_stream(
    make_store: StoreFactory, db_path: Path
) -> None:
    store = make_store(batch_size=500, flush_interval_s=0.05)
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:  # ~50k readings/s in bursts, like a busy site
        while streaming.is_set():
            for _ in range(100):
                store.record_observation(gas())
            time.sleep(0.002)

    feeder = threading.Thread(target=stream)
    feeder.start()
    latencies = []
    try:
        with probe(db_path) as conn:
            for i in range(20):
                store.record_transition(transition(make_alarm(f"a{i}")))
                latencies.append(wait_for(partial(has_transition, conn, f"a{i}"), timeout=2))
                time.sleep(0.01)
    finally:
        streaming.clear()
        feeder.join()
    assert store.flush()
    assert store.readings_count() > 1_000  # readings really were streaming meanwhile
    # Typically 1-3 ms (one fsync); the bounds leave room for a loaded CI machine.
    assert statistics.median(latencies) < 0.02, latencies
    assert max(latencies) < 0.5, latencies
    assert store.stats.priority_commits == 20


def test_full_queue_drops_and_counts_instead_of_growing(db_path: Path) -> None:
    store = Store(StorageSettings(path=db_path, max_queued_readings=10))
    for _ in range(25):  # before open(): queued, up to the bound
        store.record_observation(gas())
    assert store.stats.dropped_overflow == 15
    store.open()
    assert store.flush()
    assert store.readings_count() == 10
    store.close()


def test_the_store_process_queues_are_bounded_and_counted() -> None:
    """Intake (batches waiting to be decoded) and writer (rows waiting for SQLite) each stop at the bound
    and count what they shed, whatever the input rate, while the CPU or the disk is behind (not started)."""
    stats = StoreStats()
    writer = Writer(stats, Journal(stats, max_items=10, spill=None), batch_size=100, flush_interval_s=0.05,
                    max_queued_readings=50, fsync=False, retry_interval_s=1.0)
    writer.put_rows([reading_row(gas(ts=float(i))) for i in range(80)])
    assert (writer.queue_depth, stats.writer_enqueued, stats.writer_shed, stats.writer_high_water) == (50, 50, 30, 50)
    intake = Intake(writer, stats, (), sample_s=0, max_queued=20)
    for i in range(30):
        intake.accept(Batch([], [], [], [], [], [("wb1", float(i), b'{"hr": 80}')]))
    assert (intake.depth, stats.intake_enqueued, stats.intake_shed, stats.intake_high_water) == (20, 20, 10, 20)
    assert stats.snapshot(writer.queue_depth, intake.depth).intake_depth == 20


def writer_on(conn: sqlite3.Connection, stats: StoreStats) -> Writer:
    writer = Writer(stats, Journal(stats, max_items=100, spill=None), batch_size=100, flush_interval_s=0.05,
                    max_queued_readings=1000, fsync=True, retry_interval_s=0.5)
    writer.start(lambda: conn, budget=None)
    return writer


def migrated(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    migrate(Database(conn, execute_plugins=False))
    return conn


def alarm_write(alarm_id: str) -> tuple[Write, ...]:
    t = transition(make_alarm(alarm_id))
    return (Write("transitions", TRANSITION_SQL, transition_row(t)),)


def test_alarm_writes_survive_a_locked_database_and_commit_later(db_path: Path) -> None:
    conn = migrated(db_path)
    conn.execute("PRAGMA busy_timeout=20")
    stats = StoreStats()
    writer = writer_on(conn, stats)
    blocker = connect(db_path)
    blocker.execute("BEGIN IMMEDIATE")  # someone else holds the write lock

    writer.put_priority(alarm_write("held"))
    assert not writer.flush(1.0)
    assert stats.priority_pending_retry == 1 and stats.write_errors >= 1

    blocker.execute("ROLLBACK")
    assert writer.flush(2.0)
    assert stats.priority_pending_retry == 0
    with probe(db_path) as c:
        assert c.execute("SELECT alarm_id FROM transitions").fetchall() == [("held",)]
    assert writer.stop(2.0)
    blocker.close()


def test_read_only_database_is_counted_never_raised(db_path: Path) -> None:
    conn = migrated(db_path)
    conn.execute("PRAGMA query_only=ON")  # what a file system remounted read-only looks like to SQLite
    stats = StoreStats()
    writer = writer_on(conn, stats)
    writer.put_rows([reading_row(gas()) for _ in range(150)])
    writer.put_priority(alarm_write("a1"))

    assert not writer.flush(1.0)
    assert stats.dropped_on_error == 150  # readings are given up ...
    assert stats.priority_pending_retry == 1  # ... alarms are kept and retried
    assert writer.stop(2.0)  # and shutting down does not hang on them


def test_a_write_the_database_refuses_is_dropped_alone(db_path: Path) -> None:
    conn = migrated(db_path)
    stats = StoreStats()
    writer = writer_on(conn, stats)
    writer.put_priority((Write("nowhere", "INSERT INTO no_such_table VALUES (?)", (1,)),))
    writer.put_priority(alarm_write("good"))

    assert not writer.flush(2.0)
    assert stats.dropped_on_error == 1
    assert stats.rows_written == {"transitions": 1}
    assert writer.stop(2.0)

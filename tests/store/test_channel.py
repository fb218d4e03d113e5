"""The channel to the store process: other producer processes, bounds and shedding, flush, figures, its life."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import Connection

from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import ProducerAddress, Store, StoreProducer
from edge_runtime.store.rows import reading_row

from .conftest import StoreFactory, gas, make_alarm, transition, wait_for

ROWS_PER_PRODUCER = 5_000


def produce_rows(address: ProducerAddress, name: str, done: Connection) -> None:
    """A second producer process (the telemetry ingest does this): rows built here, sent to the store."""
    producer = StoreProducer.connect(*address, name=name)
    rows = [reading_row(gas(device=name, ts=float(i))) for i in range(ROWS_PER_PRODUCER)]
    for i in range(0, len(rows), 50):  # a message's worth at a time
        producer.put_rows(rows[i : i + 50])
    flushed = producer.flush(20.0)
    done.send((flushed, [q.as_dict() for q in producer.queues()]))
    producer.close()


def test_other_processes_write_through_the_same_store_process(store: Store) -> None:
    ctx = mp.get_context("spawn")
    pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
    children = [
        ctx.Process(target=produce_rows, args=(store.producer_address, f"ingest-{i}", send), daemon=True)
        for i, (_, send) in enumerate(pipes)
    ]
    try:
        for child in children:
            child.start()
        for i in range(1_000):
            store.record_observation(gas(device="daemon", ts=float(i)))
        results = []
        for receive, _ in pipes:
            assert receive.poll(60), "a producer process did not report"
            results.append(receive.recv())
        for child in children:
            child.join(10)
            assert child.exitcode == 0
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(5)
    assert store.flush()
    assert [flushed for flushed, _ in results] == [True, True]
    queues = results[0][1]
    assert [(q["name"], q["kind"], q["enqueued"], q["shed"]) for q in queues] == [
        ("ingest-0.readings", "bulk", ROWS_PER_PRODUCER, 0), ("ingest-0.priority", "events", 0, 0)]
    assert store.readings_count() == 2 * ROWS_PER_PRODUCER + 1_000


def test_a_full_channel_sheds_bulk_and_counts_it_while_alarms_survive(make_store: StoreFactory) -> None:
    store = make_store(max_queued_readings=1_000)
    producer = StoreProducer.connect(*store.producer_address, name="bursty")
    try:
        for i in range(20):
            store.record_transition(transition(make_alarm(f"a{i}")))
            producer.put_rows([reading_row(gas(ts=float(n))) for n in range(5_000)])  # one call: the sender cannot drain it
        assert producer.flush(10.0) and store.flush()
        bulk = producer.queues()[0]
    finally:
        producer.close()
    assert (bulk.name, bulk.capacity, bulk.enqueued + bulk.shed) == ("bursty.readings", 1_000, 100_000)
    assert bulk.shed >= 80_000 and bulk.high_water == 1_000 and bulk.shedding
    # The store process's writer queue has the same bound: what it could not take is counted there.
    assert store.readings_count() == bulk.enqueued - store.stats.dropped_overflow
    events = store.queues()[1]
    assert (events.name, events.enqueued, events.shed, events.kind) == ("store.priority", 20, 0, "events")
    assert {f"a{i}" for i in range(20)} == {a["alarm_id"] for a in store.alarms()}
    assert store.stats.priority_commits == 20


def test_before_open_the_channel_holds_up_to_its_bound(db_path) -> None:
    store = Store(StorageSettings(path=db_path, max_queued_readings=10))
    try:
        for _ in range(25):
            store.record_observation(gas())
        for i in range(5):
            store.record_transition(transition(make_alarm(f"a{i}")))
        readings, priority, intake, writer, journal = store.queues()
        assert (readings.name, readings.depth, readings.shed) == ("store.readings", 10, 15)
        assert (intake.name, intake.depth, writer.name, writer.depth) == ("store.intake", 0, "store.writer", 0)
        assert (priority.name, priority.depth, priority.capacity) == ("store.priority", 5, 0)
        store.open()
        assert store.flush()
        assert store.readings_count() == 10 and len(store.alarms()) == 5
        assert store.stats.dropped_overflow == 15
    finally:
        store.close()


def test_stats_and_queue_figures_after_a_flush(store: Store) -> None:
    for i in range(300):
        store.record_observation(gas(ts=float(i)))
    store.record_transition(transition(make_alarm("a1")))
    store.record_exposure_minute("w7", "H2S", 60.0, 2.5)
    assert store.flush()
    stats = store.stats
    assert stats.rows_written == {"readings": 300, "alarms": 1, "transitions": 1, "exposure_minutes": 1}
    assert stats.priority_commits == 1 and stats.priority_latency_ms_max > 0  # measured from record_transition
    assert stats.queue_depth == store.queue_depth == 0
    assert (stats.dropped_overflow, stats.record_errors, stats.priority_pending_retry) == (0, 0, 0)
    readings, priority, intake, writer, journal = store.queues()
    assert (readings.kind, readings.capacity, readings.enqueued, readings.depth) == ("bulk", 20_000, 300, 0)
    assert (priority.kind, priority.enqueued, priority.depth) == ("events", 2, 0)
    # the store process's own queues, as it reported them with the flush reply
    assert (intake.name, intake.kind, intake.capacity, intake.enqueued, intake.shed) == ("store.intake", "bulk",
                                                                                       20_000, 300, 0)
    assert (writer.name, writer.enqueued, writer.depth, writer.shed) == ("store.writer", 300, 0, 0)
    assert (journal.name, journal.kind, journal.capacity, journal.depth, journal.shed) == ("store.journal", "events",
                                                                                         10_000, 0, 0)


def test_ctrl_c_does_not_stop_the_store_process(store: Store) -> None:
    pid = store.process_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGINT)
    time.sleep(0.2)
    store.record_transition(transition(make_alarm("after-ctrl-c")))
    assert store.flush()
    assert [a["alarm_id"] for a in store.alarms()] == ["after-ctrl-c"]


def test_a_dead_store_process_holds_alarms_and_never_raises(make_store: StoreFactory) -> None:
    store = make_store()
    pid = store.process_pid
    assert pid is not None
    assert store.connected
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not store.connected, timeout=5)  # noticed without anything to send
    store.record_transition(transition(make_alarm("held")))
    store.record_observation(gas())
    assert store.stats.priority_pending_retry == 1  # held here; readiness reports storage down
    assert not store.flush(0.5)
    started = time.monotonic()
    store.close(1.0)
    assert time.monotonic() - started < 5

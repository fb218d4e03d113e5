"""Disk budget: what goes first, what never goes, and a file that stops growing."""
from __future__ import annotations

import logging
import os
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.alarms.model import AlarmState, Priority, TransitionCause, Verdict
from edge_runtime.store import Store
from edge_runtime.store.budget import DiskBudget, byte_limit
from edge_runtime.store.connection import connect
from edge_runtime.store.migrations import open_migrated
from edge_runtime.store.stats import StoreStats

from .conftest import StoreFactory, gas, make_alarm, probe, transition, wait_for

MiB = 1024 * 1024


def raise_and_close(store: Store, alarm_id: str, priority: Priority, verdict: Verdict | None = None) -> None:
    store.record_transition(transition(make_alarm(alarm_id, priority=priority)))
    if verdict is not None:
        labelled = make_alarm(alarm_id, priority=priority, state=AlarmState.ACKED, verdict=verdict)
        store.record_transition(transition(labelled, TransitionCause.VERDICT, AlarmState.UNACK, by="sup"))
    closed = make_alarm(alarm_id, priority=priority, state=AlarmState.NORMAL, verdict=verdict, updated_ts=1001.0)
    store.record_transition(transition(closed, TransitionCause.CLOSED, AlarmState.ACKED))


def max_ids(store: Store, *tables: str) -> dict[str, int]:
    assert store.flush()
    return {t: int(store.outbox.pending(t, 10_000)[-1]["id"]) for t in tables}


def contents(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    def ids(table: str) -> list[int]:
        return [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]

    return {
        "readings": ids("readings"),
        "exposure": ids("exposure_minutes"),
        "alarms": sorted(row[0] for row in conn.execute("SELECT alarm_id FROM alarms")),
        "transitions": sorted({row[0] for row in conn.execute("SELECT alarm_id FROM transitions")}),
        "verdicts": sorted(row[0] for row in conn.execute("SELECT alarm_id FROM verdicts")),
    }


def test_eviction_order_never_touches_unsynced_or_open_alarms(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store()
    for i in range(100):
        store.record_observation(gas(ts=float(i)))
    for minute in range(10):
        store.record_exposure_minute("w7", "H2S", 60.0 * minute, 1.0)
    raise_and_close(store, "closed-high", Priority.HIGH, Verdict.CONFIRMED)
    raise_and_close(store, "closed-low", Priority.LOW)
    store.record_transition(transition(make_alarm("open")))
    for table, up_to in max_ids(store, "alarms", "transitions", "verdicts").items():
        store.outbox.mark_synced(table, up_to)
    store.outbox.mark_synced("readings", 60)
    store.outbox.mark_synced("exposure_minutes", 5)
    raise_and_close(store, "closed-unsynced", Priority.LOW, Verdict.FALSE_ALARM)  # after the marks
    store.close()

    conn = connect(db_path)
    stats = StoreStats()
    budget = DiskBudget(db_path, 1, stats, min_free_bytes=0, chunk_rows=25, alarm_chunk=1)
    steps = []
    while budget.make_room(conn):
        steps.append(contents(conn))

    assert [s["readings"][:1] for s in steps[:3]] == [[26], [51], [61]]  # synced readings, oldest first
    assert steps[3]["exposure"] == [6, 7, 8, 9, 10]  # then synced exposure minutes
    assert steps[4]["alarms"] == ["closed-high", "closed-unsynced", "open"]  # then closed synced, low first
    assert steps[5]["alarms"] == ["closed-unsynced", "open"]
    # then unsynced readings thinned, every other one, pass after pass (the last pass found nothing more)
    assert steps[6]["readings"] == list(range(61, 100, 2))
    assert [len(s["readings"]) for s in steps[6:]] == [20, 10, 5, 3, 2, 1, 1, 0]  # ... and the last resort
    assert steps[-1] == {
        "readings": [],
        "exposure": [6, 7, 8, 9, 10],
        "alarms": ["closed-unsynced", "open"],
        "transitions": ["closed-unsynced", "open"],
        "verdicts": ["closed-unsynced"],
    }
    assert stats.evicted == {"readings": 100, "exposure_minutes": 5, "alarms": 2, "transitions": 5, "verdicts": 1}
    assert stats.thinned == 39 and stats.evicted_unsynced == 1
    conn.close()


def fill(store: Store, rows: int, *, sync: bool) -> None:
    """Readings in flushed bursts; with ``sync`` a sync agent confirms each burst."""
    for burst in range(rows // 5_000):
        for i in range(5_000):
            store.record_observation(gas(ts=burst * 5_000.0 + i))
        assert store.flush()
        if sync:
            store.outbox.mark_synced("readings", (burst + 1) * 5_000)


def test_file_stops_growing_at_the_budget(make_store: StoreFactory, db_path: Path) -> None:
    budget = 1024 * 1024
    store = make_store(max_bytes=budget, min_free_bytes=0, batch_size=500)
    store.record_transition(transition(make_alarm("open")))
    fill(store, 100_000, sync=True)  # ~5 MB of readings

    stats = store.stats
    assert stats.evicted["readings"] > 50_000 and stats.evicted_unsynced == 0
    assert os.path.getsize(db_path) <= budget * 1.1
    assert [a.alarm_id for a in store.load_open_alarms()] == ["open"]


def test_unsynced_readings_go_only_when_nothing_else_can(make_store: StoreFactory, db_path: Path) -> None:
    budget = 1024 * 1024
    store = make_store(max_bytes=budget, min_free_bytes=0, batch_size=500)
    store.record_transition(transition(make_alarm("open")))
    fill(store, 60_000, sync=False)

    assert store.stats.thinned > 0  # thinned first (test_disk_budget.py in tests/sync goes on to the last resort)
    assert os.path.getsize(db_path) <= budget * 1.1
    assert store.readings_count() < 60_000
    assert len(store.transitions("open")) == 1


def test_a_lowered_budget_shrinks_the_file(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store(max_bytes=64 * 1024 * 1024, min_free_bytes=0)
    fill(store, 60_000, sync=True)
    store.close()
    big = os.path.getsize(db_path)

    smaller = make_store(max_bytes=big // 4, min_free_bytes=0)
    smaller.record_observation(gas())  # the writer runs the budget on every pass
    for _ in range(100):
        if smaller.stats.evicted.get("readings", 0) and os.path.getsize(db_path) <= big // 4:
            break
        smaller.flush()
    smaller.close()
    assert os.path.getsize(db_path) <= big // 4


@pytest.mark.parametrize(("file_mb", "free_mb", "limit_mb"), [
    (10, 1000, 512),  # plenty of disk: the budget
    (10, 100, 46),  # the disk is the smaller: what leaves min_free_bytes (64 MiB) free, the file's own bytes included
    (100, 5, 41),  # min_free_bytes larger than the free space: the file has to give some back
    (10, 5, 0),  # ... and more than the file could give: 0, everything that may go goes (never negative)
])
def test_the_limit_is_the_budget_or_what_leaves_min_free_bytes_free(file_mb: int, free_mb: int, limit_mb: int) -> None:
    assert byte_limit(512 * MiB, file_mb * MiB, free_mb * MiB, 64 * MiB) == limit_mb * MiB


def test_over_the_limit_with_nothing_to_evict_says_so_with_the_real_limit(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = open_migrated(db_path)
    budget = DiskBudget(db_path, 512 * MiB, StoreStats(), min_free_bytes=1 << 60, chunk_rows=100)  # > any disk
    with caplog.at_level(logging.INFO, logger="edge_runtime.store.budget"):
        budget.step(conn)
    conn.close()
    [starting, stuck] = [r for r in caplog.records if r.name == "edge_runtime.store.budget"]
    assert "over its limit of 0" in starting.getMessage()
    assert "over its limit of 0, and nothing left may be evicted" in stuck.getMessage()
    assert stuck.__dict__["budget"] == 512 * MiB and stuck.__dict__["min_free_bytes"] == 1 << 60


def test_a_stage_found_empty_is_not_queried_again_until_the_marks_move(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store()
    for i in range(300):
        store.record_observation(gas(ts=float(i)))
    store.record_transition(transition(make_alarm("open")))
    store.close()
    conn = connect(db_path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    budget = DiskBudget(db_path, 1, StoreStats(), min_free_bytes=0, chunk_rows=100)
    for _ in range(3):  # nothing synced: each step goes to the last resort, unsynced readings
        assert budget.make_room(conn)
    closed_alarm_queries = [s for s in statements if "FROM alarms AS a" in s]
    assert len(closed_alarm_queries) == 1
    conn.execute("INSERT INTO outbox (tbl, synced_id, synced_ts) VALUES ('alarms', 1, 0)")  # the sync agent moved on
    budget.make_room(conn)
    assert len([s for s in statements if "FROM alarms AS a" in s]) == 2
    conn.close()


def test_alarm_commits_stay_fast_while_evicting(make_store: StoreFactory, db_path: Path) -> None:
    """Over a small budget the store evicts all the time, in short steps after each alarm commit."""
    store = make_store(max_bytes=MiB, min_free_bytes=0, batch_size=500)
    latencies = []
    with probe(db_path) as conn:
        for burst in range(30):
            for i in range(2_000):
                store.record_observation(gas(ts=burst * 2_000.0 + i))
            store.record_transition(transition(make_alarm(f"a{burst}")))
            latencies.append(wait_for(
                lambda b=burst: conn.execute("SELECT 1 FROM transitions WHERE alarm_id = ?", (f"a{b}",)).fetchone(),
                timeout=5))
    assert store.flush()
    assert store.stats.evicted.get("readings", 0) > 20_000  # it really was evicting
    # an order-of-magnitude bound (a blocking eviction costs seconds); the latency itself is bench/evicting.py's
    assert statistics.median(latencies) < 0.2, latencies

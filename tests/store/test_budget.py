"""Disk budget: what goes first, what never goes, and a file that stops growing."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from edge_runtime.alarms.model import AlarmState, Priority, TransitionCause, Verdict
from edge_runtime.store import Store
from edge_runtime.store.budget import DiskBudget
from edge_runtime.store.connection import connect
from edge_runtime.store.stats import StoreStats

from .conftest import StoreFactory, gas, make_alarm, transition


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
    assert [s["readings"][:1] for s in steps[6:]] == [[86], []]  # last resort: unsynced readings
    assert steps[-1] == {
        "readings": [],
        "exposure": [6, 7, 8, 9, 10],
        "alarms": ["closed-unsynced", "open"],
        "transitions": ["closed-unsynced", "open"],
        "verdicts": ["closed-unsynced"],
    }
    assert stats.evicted == {"readings": 100, "exposure_minutes": 5, "alarms": 2, "transitions": 5, "verdicts": 1}
    assert stats.evicted_unsynced == 40
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

    assert store.stats.evicted_unsynced > 0
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

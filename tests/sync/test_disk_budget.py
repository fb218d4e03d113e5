"""The disk budget with unsynced data: readings thinned oldest first around alarm context, events never
touched, and ranges the cloud refused never evicted as if the cloud had them."""
from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from edge_runtime.alarms.model import AlarmState, TransitionCause, Verdict
from edge_runtime.store import Store
from edge_runtime.store.budget import DiskBudget
from edge_runtime.store.connection import connect
from edge_runtime.store.stats import StoreStats
from tests.store.conftest import gas, make_alarm, transition

StoreFactory = Callable[..., Store]
CONTEXT_S = 100.0
RAISED = (2_000.0, 7_000.0)


def events(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("alarms", "transitions", "verdicts")}


def in_context(ts: float) -> bool:
    return any(abs(ts - raised) <= CONTEXT_S for raised in RAISED)


def fill(store: Store) -> None:
    for i in range(10_000):  # two detectors, one reading a second each
        store.record_observation(gas(device=f"det-{i % 2}", ts=float(i // 2 * 2 + i % 2)))
    for n, raised in enumerate(RAISED):
        alarm = make_alarm(f"a{n}", raised_ts=raised, updated_ts=raised)
        store.record_transition(transition(alarm))
        labelled = make_alarm(f"a{n}", raised_ts=raised, state=AlarmState.ACKED, verdict=Verdict.CONFIRMED)
        store.record_transition(transition(labelled, TransitionCause.VERDICT, AlarmState.UNACK, by="sup"))
        closed = make_alarm(f"a{n}", raised_ts=raised, state=AlarmState.NORMAL, verdict=Verdict.CONFIRMED)
        store.record_transition(transition(closed, TransitionCause.CLOSED, AlarmState.ACKED))
    assert store.flush()


def test_thinning_keeps_alarm_context_and_never_touches_events(make_store: StoreFactory, db_path: Path) -> None:
    fill(make_store())
    conn = connect(db_path)
    before = events(conn)
    context = [ts for (ts,) in conn.execute("SELECT ts FROM readings") if in_context(ts)]
    stats = StoreStats()
    budget = DiskBudget(db_path, 1, stats, min_free_bytes=0, chunk_rows=500, alarm_context_s=CONTEXT_S)

    assert budget.make_room(conn)  # one step: the oldest readings, every other one of each detector
    first_step = conn.execute("SELECT count(*) FROM readings WHERE ts < 1000").fetchone()[0]
    assert first_step == 500 and stats.thinned == 500 and conn.execute(
        "SELECT count(*) FROM readings WHERE ts >= 1000").fetchone()[0] == 9_000

    while stats.thinned < (10_000 - len(context)) // 2:  # the first pass, to the newest
        assert budget.make_room(conn)
    per_device = Counter(d for (d,) in conn.execute("SELECT device FROM readings"))
    assert abs(per_device["det-0"] - per_device["det-1"]) <= 10  # thinned evenly, not one device gone
    assert stats.evicted_unsynced == 0

    for _ in range(1_000):  # on to the last resort: bounded
        if not budget.make_room(conn):
            break
    left = sorted(ts for (ts,) in conn.execute("SELECT ts FROM readings"))
    assert left == sorted(context)  # every reading around an alarm kept, nothing else
    assert stats.evicted_unsynced > 0 and stats.thinned > stats.evicted_unsynced
    assert events(conn) == before  # alarms, transitions and verdicts: never synced, never touched
    conn.close()


def test_a_restart_goes_on_thinning_where_it_stopped(make_store: StoreFactory, db_path: Path) -> None:
    fill(make_store())
    conn = connect(db_path)
    budget = DiskBudget(db_path, 1, StoreStats(), min_free_bytes=0, chunk_rows=500, alarm_context_s=CONTEXT_S)
    assert budget.make_room(conn)
    again = DiskBudget(db_path, 1, StoreStats(), min_free_bytes=0, chunk_rows=500, alarm_context_s=CONTEXT_S)
    assert again.make_room(conn)  # the next readings, not the same oldest ones thinned twice
    assert conn.execute("SELECT count(*) FROM readings WHERE ts < 1900").fetchone()[0] == 950
    assert conn.execute("SELECT count(*) FROM readings WHERE ts BETWEEN 1900 AND 1999").fetchone()[0] == 100
    conn.close()


def test_quarantined_ranges_are_not_evicted_as_synced(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store()
    fill(store)
    for table, mark in (("readings", 10_000), ("alarms", 6), ("transitions", 6), ("verdicts", 2)):
        store.outbox.mark_synced(table, mark)
    store.outbox.quarantine("readings", 101, 200, "k1", "bad rows", 100)
    store.outbox.quarantine("transitions", 4, 4, "k2", "bad transition", 1)
    store.close()
    conn = connect(db_path)
    stats = StoreStats()
    budget = DiskBudget(db_path, 1, stats, min_free_bytes=0, chunk_rows=500, alarm_context_s=0.0)
    while conn.execute("SELECT count(*) FROM readings WHERE id NOT BETWEEN 101 AND 200").fetchone()[0]:
        assert budget.make_room(conn)  # synced readings: around the refused range
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 100 and stats.thinned == 0
    for _ in range(100):
        if conn.execute("SELECT count(*) FROM alarms WHERE alarm_id = 'a0'").fetchone()[0] == 0:
            break
        assert budget.make_room(conn)
    # a0 went with its transitions and verdict; a1 stays: one of its transitions is not in the cloud
    assert [a for (a,) in conn.execute("SELECT alarm_id FROM alarms")] == ["a1"]
    assert stats.evicted_unsynced == 0
    conn.close()

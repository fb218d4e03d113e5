"""A real full disk (a small tmpfs, filled): alarm writes are held and spilled, never lost, and committed
once each when space comes back, in this run or the next. Needs root for the mount (skipped elsewhere)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.alarms.model import AlarmState, TransitionCause, Verdict
from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import Store

from .conftest import gas, make_alarm, probe, transition, wait_for
from .tmpfs import Tmpfs, mounted_tmpfs

DISK_BYTES = 8 * 1024 * 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Tmpfs]:
    with mounted_tmpfs(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


def settings(disk: Tmpfs, tmp_path: Path, **changes: Any) -> StorageSettings:
    """The database on the small disk, the spill file on another file system."""
    values: dict[str, Any] = {"path": disk.path / "site.db", "spill_path": tmp_path / "spill",
                              "min_free_bytes": 0, "retry_interval_s": 0.2, **changes}
    return StorageSettings(**values)


def spill_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "spill").glob("site.db.spill-*.jsonl"))


def stored(db: Path) -> list[tuple[str, str]]:
    """(alarm_id, cause) of every transition, in commit order."""
    with probe(db) as conn:
        return [(a, c) for a, c in conn.execute("SELECT alarm_id, cause FROM transitions ORDER BY id")]


def raise_held(store: Store, prefix: str, n: int) -> None:
    """Readings keep coming too (they are shed); each alarm is raised, and the first one acknowledged
    with a verdict (a label for training)."""
    for i in range(n):
        for _ in range(50):
            store.record_observation(gas())
        store.record_transition(transition(make_alarm(f"{prefix}{i}")))
    labelled = make_alarm(f"{prefix}0", state=AlarmState.ACKED, verdict=Verdict.CONFIRMED, acked_by="sup")
    store.record_transition(transition(labelled, TransitionCause.VERDICT, AlarmState.UNACK, by="sup"))


def test_alarm_writes_are_held_while_the_disk_is_full_and_committed_once_when_it_frees(
    disk: Tmpfs, tmp_path: Path
) -> None:
    store = Store(settings(disk, tmp_path))
    store.open()
    try:
        store.record_transition(transition(make_alarm("before")))
        assert store.flush()
        disk.fill()
        raise_held(store, "held", 20)
        wait_for(lambda: store.health().held == 21, timeout=10)
        health = store.health()
        assert not health.writable and health.reason, health
        assert health.spilled == 21 and health.lost == 0
        assert store.stats.dropped_on_error > 0  # readings are shed, not held
        [spill] = spill_files(tmp_path)
        assert len(spill.read_text().splitlines()) == 21

        disk.free()
        wait_for(lambda: store.health().writable and store.health().held == 0, timeout=10)
        assert store.flush()
        assert stored(disk.path / "site.db") == (
            [("before", "raised")] + [(f"held{i}", "raised") for i in range(20)] + [("held0", "verdict")]
        )
        assert [v["alarm_id"] for v in store.verdicts()] == ["held0"]
        assert spill_files(tmp_path) == []
        assert store.stats.replayed == 21
    finally:
        store.close()


def test_a_restart_on_a_full_disk_starts_and_replays_the_earlier_runs_spill_file(
    disk: Tmpfs, tmp_path: Path
) -> None:
    first = Store(settings(disk, tmp_path))
    first.open()
    try:
        first.record_transition(transition(make_alarm("before")))
        assert first.flush()
        disk.fill()
        raise_held(first, "first", 5)
        wait_for(lambda: first.health().held == 6, timeout=10)
    finally:
        first.close()
    assert len(spill_files(tmp_path)) == 1  # left for the next run

    second = Store(settings(disk, tmp_path))
    second.open()  # still full: it starts all the same
    try:
        assert not second.health().writable
        raise_held(second, "second", 3)
        wait_for(lambda: second.health().held == 6 + 4, timeout=10)
        disk.free()
        wait_for(lambda: second.health().writable and second.health().held == 0, timeout=10)
        assert second.flush()
        assert stored(disk.path / "site.db") == (
            [("before", "raised")]
            + [(f"first{i}", "raised") for i in range(5)] + [("first0", "verdict")]
            + [(f"second{i}", "raised") for i in range(3)] + [("second0", "verdict")]
        )
        assert spill_files(tmp_path) == []
        assert {a.alarm_id for a in second.load_open_alarms()} >= {"first1", "second2"}
    finally:
        second.close()


def test_min_free_bytes_0_a_database_that_filled_the_disk_itself_restarts_and_catches_up(
    disk: Tmpfs, tmp_path: Path
) -> None:
    store = Store(settings(disk, tmp_path, batch_size=500))
    store.open()
    try:
        i = 0
        deadline = time.monotonic() + 120
        while store.health().writable:  # readings until the database has taken the whole disk
            assert time.monotonic() < deadline, f"the database never filled the disk ({i} readings)"
            for _ in range(2_000):
                store.record_observation(gas(ts=float(i)))
                i += 1
            store.flush(5)
        raise_held(store, "held", 3)
        wait_for(lambda: store.health().held >= 1, timeout=10)
    finally:
        store.close()

    restarted = Store(settings(disk, tmp_path))
    restarted.open()
    try:
        restarted.record_transition(transition(make_alarm("after-restart")))
        disk.resize(2 * DISK_BYTES)  # the operator grows the disk
        wait_for(lambda: restarted.health().writable and restarted.health().held == 0, timeout=15)
        assert restarted.flush()
        with probe(disk.path / "site.db") as conn:
            ids = [r[0] for r in conn.execute("SELECT alarm_id FROM transitions WHERE cause = 'raised'")]
        held = {"held0", "held1", "held2", "after-restart"}
        assert held <= set(ids) and len(ids) == len(set(ids)), ids  # every one, once
    finally:
        restarted.close()


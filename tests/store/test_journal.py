"""The journal and its spill files: bounded, ordered across runs, and replayed exactly once, crashes included."""
from __future__ import annotations

import json
import sqlite3
from collections import deque
from pathlib import Path

import pytest

from edge_runtime.store.connection import transaction
from edge_runtime.store.journal import CHUNK, Commit, Journal, replay_mark
from edge_runtime.store.migrations import open_migrated
from edge_runtime.store.rows import TRANSITION_SQL, transition_row
from edge_runtime.store.spill import SpillFile, Unit
from edge_runtime.store.statements import Write
from edge_runtime.store.stats import StoreStats

from .conftest import make_alarm, transition


def unit(alarm_id: str) -> tuple[Write, ...]:
    return (Write("transitions", TRANSITION_SQL, transition_row(transition(make_alarm(alarm_id)))),)


def run(spill_dir: Path, db: Path, stats: StoreStats | None = None, max_items: int = 1000) -> Journal:
    """The journal of one store process run (a new run sees the files earlier ones left)."""
    stats = stats or StoreStats()
    return Journal(stats, max_items=max_items, spill=SpillFile(spill_dir, db, 1 << 20, stats))


def committer(conn: sqlite3.Connection, fail_on_call: int | None = None) -> Commit:
    """Commits each queue in one transaction; the ``fail_on_call``-th call fails like a full disk."""
    calls = 0

    def commit(queue: deque[Unit]) -> None:
        nonlocal calls
        calls += 1
        if calls == fail_on_call:
            raise sqlite3.OperationalError("database or disk is full")
        with transaction(conn):
            for u in queue:
                for w in u.writes:
                    conn.execute(w.sql, w.params)
        queue.clear()

    return commit


def replay(journal: Journal, conn: sqlite3.Connection, fail_on_call: int | None = None) -> int:
    return journal.replay(committer(conn, fail_on_call), lambda file: replay_mark(conn, file))


def stored(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT alarm_id FROM transitions ORDER BY id")]


@pytest.fixture
def conn(db_path: Path) -> sqlite3.Connection:
    return open_migrated(db_path)


def test_earlier_runs_go_first_and_every_file_is_removed(tmp_path: Path, db_path: Path, conn: sqlite3.Connection) -> None:
    first = run(tmp_path / "spill", db_path)
    for i in range(3):
        first.hold(unit(f"first{i}"))
    first.close()  # the process ends with the database still failing
    second = run(tmp_path / "spill", db_path)
    assert len(second) == 3  # what the first run left counts as held
    second.hold(unit("second0"))

    assert replay(second, conn) == 4 and len(second) == 0
    assert stored(conn) == ["first0", "first1", "first2", "second0"]
    assert list((tmp_path / "spill").iterdir()) == []
    assert conn.execute("SELECT count(*) FROM spill_replayed").fetchone()[0] == 0


def test_a_crash_in_the_middle_of_a_replay_commits_nothing_twice(
    tmp_path: Path, db_path: Path, conn: sqlite3.Connection
) -> None:
    first = run(tmp_path / "spill", db_path)
    for i in range(CHUNK * 2 + 50):
        first.hold(unit(f"a{i}"))
    first.close()
    second = run(tmp_path / "spill", db_path)
    with pytest.raises(sqlite3.OperationalError):
        replay(second, conn, fail_on_call=2)  # the first chunk is in, then the disk fails ...
    second.close()  # ... and the process dies before the next retry
    assert len(stored(conn)) == CHUNK

    third = run(tmp_path / "spill", db_path)
    assert replay(third, conn) == CHUNK + 50  # the mark says where the crashed replay got to
    assert stored(conn) == [f"a{i}" for i in range(CHUNK * 2 + 50)]


def test_what_memory_cannot_hold_comes_back_from_the_spill_file(
    tmp_path: Path, db_path: Path, conn: sqlite3.Connection
) -> None:
    stats = StoreStats()
    journal = run(tmp_path / "spill", db_path, stats, max_items=2)
    for i in range(5):
        journal.hold(unit(f"a{i}"))
    assert (len(journal), stats.journal_depth, stats.spilled, stats.journal_lost) == (5, 2, 5, 0)
    assert replay(journal, conn) == 5
    assert stored(conn) == [f"a{i}" for i in range(5)]  # memory and file merged in order, each once


def test_units_kept_nowhere_are_counted_as_lost(tmp_path: Path, db_path: Path, conn: sqlite3.Connection) -> None:
    (tmp_path / "not-a-directory").write_text("")
    stats = StoreStats()
    journal = run(tmp_path / "not-a-directory" / "spill", db_path, stats, max_items=2)
    for i in range(3):
        journal.hold(unit(f"a{i}"))  # the spill file cannot be created: memory only
    assert (len(journal), journal.unspilled, stats.spill_errors, stats.journal_lost) == (2, 2, 3, 1)
    assert replay(journal, conn) == 2
    assert stored(conn) == ["a0", "a1"]


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path, db_path: Path, conn: sqlite3.Connection) -> None:
    first = run(tmp_path / "spill", db_path)
    for i in range(2):
        first.hold(unit(f"a{i}"))
    first.close()
    [path] = (tmp_path / "spill").iterdir()
    with path.open("ab") as f:
        f.write(b'{"seq": 3, "writes": [["transitions", ["a2", 1')  # power lost in the middle of a write
    stats = StoreStats()
    assert replay(run(tmp_path / "spill", db_path, stats), conn) == 2
    assert stored(conn) == ["a0", "a1"] and stats.spill_unreadable == 1


def test_only_alarm_statements_are_spilled(tmp_path: Path, db_path: Path) -> None:
    stats = StoreStats()
    journal = run(tmp_path / "spill", db_path, stats)
    journal.hold((Write("transitions", "DELETE FROM transitions", ()),))  # not the statement of its table
    assert (len(journal), stats.spilled, stats.spill_errors) == (1, 0, 1)  # held in memory only


def test_a_spill_file_from_before_a_migration_still_replays(
    tmp_path: Path, db_path: Path, conn: sqlite3.Connection
) -> None:
    """A line names its columns: one written before a column was added replays, the new column at its default."""
    spill = tmp_path / "spill"
    spill.mkdir()
    old = {"alarm_id": "a-old", "ts": 1000.0, "cause": "raised", "from_state": "normal",
           "to_state": "active_unacknowledged"}
    (spill / f"{db_path.name}.spill-00000000000000000001-1.jsonl").write_text(
        json.dumps({"seq": 1, "writes": [["transitions", old]]}) + "\n")
    assert replay(run(spill, db_path), conn) == 1
    assert conn.execute('SELECT alarm_id, cause, "by" FROM transitions').fetchall() == [("a-old", "raised", None)]


def test_a_spilled_line_can_only_insert_into_the_alarm_tables(
    tmp_path: Path, db_path: Path, conn: sqlite3.Connection
) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    lines = [{"seq": 1, "writes": [["accounts", {"name": "x"}]]},  # not an alarm table
             {"seq": 2, "writes": [["transitions", {"alarm_id) SELECT 1; --": "x"}]]}]  # not a column name
    (spill / f"{db_path.name}.spill-00000000000000000001-1.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines))
    stats = StoreStats()
    assert replay(run(spill, db_path, stats), conn) == 0
    assert stats.spill_unreadable == 2 and stored(conn) == []

"""Schema: created once, migrations recorded and re-runnable, pragmas in force."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from edge_runtime.store.connection import BUSY_TIMEOUT_MS, connect
from edge_runtime.store.migrations import MIGRATIONS, migrate

from .conftest import StoreFactory, probe

TABLES = {"readings", "exposure_minutes", "alarms", "transitions", "verdicts", "fusion_state", "outbox",
          "spill_replayed"}


def applied(path: Path) -> list[tuple[str, str]]:
    with probe(path) as conn:
        return conn.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id").fetchall()


def test_opening_twice_applies_each_migration_once(make_store: StoreFactory, db_path: Path) -> None:
    make_store().close()
    first = applied(db_path)
    make_store().close()

    registered = [m.name for m in MIGRATIONS.pending(Database(memory=True))]
    assert first == [(MIGRATIONS.name, name) for name in registered]
    assert applied(db_path) == first
    with probe(db_path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names >= TABLES


def test_migrate_is_a_no_op_on_a_current_database(db_path: Path) -> None:
    db = Database(connect(db_path), execute_plugins=False)
    assert migrate(db) == migrate(db) == ["0001_initial", "0002_dashboard", "0003_spill_replayed", "0004_provenance",
                                           "0005_sync", "0006_alarm_models", "0007_model_updates"]
    assert MIGRATIONS.pending(db) == []
    db.close()


def test_file_is_wal_with_incremental_vacuum(store: object, db_path: Path) -> None:
    with probe(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL


def test_connections_use_normal_sync_and_a_busy_timeout(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    conn.close()
    reader = connect(tmp_path / "x.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("CREATE TABLE t (x)")
    reader.close()

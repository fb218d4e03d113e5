"""The edge database schema as re-runnable, registered sqlite-utils migrations.

Applied migrations are recorded in sqlite-utils' ``_sqlite_migrations`` table
(the schema version table): opening a store runs only what is missing, so a
device that skipped releases catches up in order. Never edit a migration that
has shipped; register a new one.

Every table the sync agent uploads has an ``INTEGER PRIMARY KEY AUTOINCREMENT``
id: the outbox high-water mark is "all ids up to N are synced", which is only
sound if an id is never reused after the disk budget deleted the newest rows
or an upsert replaced a row (a replaced row gets a fresh, higher id and so is
uploaded again). DDL is plain SQL because sqlite-utils cannot declare
AUTOINCREMENT or partial indexes.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .connection import connect

MIGRATIONS = Migrations("siteguard.edge_store")


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    # Readings: compact telemetry; the v1..v3 meaning per kind is in rows.py.
    # No secondary index: at tens of thousands of rows per second every index
    # would double the write cost, and ids are already in time order.
    db.execute(
        """CREATE TABLE readings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            device TEXT NOT NULL,
            kind TEXT NOT NULL,
            ts REAL NOT NULL,
            v1 REAL,
            v2 REAL,
            v3 REAL,
            extra TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE exposure_minutes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            worker TEXT NOT NULL,
            gas TEXT NOT NULL,
            minute_ts REAL NOT NULL,
            value REAL NOT NULL,
            UNIQUE (worker, gas, minute_ts)
        )"""
    )
    # One row per alarm, holding AlarmRecord (cloud_sync.contract) plus what restore needs.
    db.execute(
        """CREATE TABLE alarms (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alarm_id TEXT NOT NULL UNIQUE,
            subject TEXT NOT NULL,
            condition TEXT NOT NULL,
            kind TEXT NOT NULL,
            priority TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT NOT NULL,
            raised_ts REAL NOT NULL,
            updated_ts REAL NOT NULL,
            latching INTEGER NOT NULL,
            condition_active INTEGER NOT NULL,
            value REAL,
            threshold REAL,
            zone TEXT,
            workers TEXT NOT NULL,
            sirens TEXT NOT NULL,
            acked_by TEXT,
            acked_ts REAL,
            verdict TEXT,
            shelved_by TEXT,
            shelved_until REAL,
            shelve_reason TEXT,
            flood_group TEXT,
            muted_until REAL,
            last_announced_ts REAL
        )"""
    )
    db.execute("CREATE INDEX alarms_open ON alarms (alarm_id) WHERE state <> 'normal'")
    db.execute("CREATE INDEX alarms_updated ON alarms (updated_ts)")
    db.execute(
        """CREATE TABLE transitions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alarm_id TEXT NOT NULL,
            ts REAL NOT NULL,
            cause TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            "by" TEXT,
            note TEXT,
            extra TEXT
        )"""
    )
    db.execute("CREATE INDEX transitions_alarm ON transitions (alarm_id)")
    # Supervisors' verdicts: the training labels for the cloud side.
    db.execute(
        """CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alarm_id TEXT NOT NULL,
            verdict TEXT NOT NULL,
            "by" TEXT,
            note TEXT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX verdicts_alarm ON verdicts (alarm_id)")
    db.execute(
        """CREATE TABLE fusion_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            saved_ts REAL NOT NULL,
            state TEXT NOT NULL
        )"""
    )
    # Sync high-water marks: every id <= synced_id of that table is in the cloud.
    db.execute(
        """CREATE TABLE outbox (
            tbl TEXT PRIMARY KEY,
            synced_id INTEGER NOT NULL,
            synced_ts REAL NOT NULL
        )"""
    )


@MIGRATIONS(name="0002_dashboard")
def _dashboard(db: Database) -> None:
    # Dashboard accounts managed on the device (`siteguard accounts`); site-file accounts are not copied here.
    db.execute(
        """CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            display_name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL CHECK (role IN ('viewer', 'supervisor', 'admin')),
            password_hash TEXT NOT NULL,
            created_ts REAL NOT NULL,
            updated_ts REAL NOT NULL
        )"""
    )
    # Supervisors' zone actions (siren, evacuate, all clear): who, when, where, with the alarm they touched.
    db.execute(
        """CREATE TABLE zone_actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            zone TEXT NOT NULL,
            action TEXT NOT NULL,
            "by" TEXT NOT NULL,
            ts REAL NOT NULL,
            note TEXT,
            alarm_id TEXT
        )"""
    )
    db.execute("CREATE INDEX zone_actions_ts ON zone_actions (ts)")
    db.execute("CREATE INDEX alarms_raised ON alarms (raised_ts)")
    db.execute("CREATE INDEX transitions_ts ON transitions (ts)")


@MIGRATIONS(name="0003_spill_replayed")
def _spill_replayed(db: Database) -> None:
    # Per spill file, the highest unit already replayed (journal.py): a crash mid-replay never commits one twice.
    db.execute("CREATE TABLE spill_replayed (file TEXT PRIMARY KEY, seq INTEGER NOT NULL)")


@MIGRATIONS(name="0004_provenance")
def _provenance(db: Database) -> None:
    # The channel of every action (dashboard, mqtt, wearable, system: alarms.model.Channel) beside its "by";
    # NULL on older rows means unknown. Verdicts keep one row per revision (labels.py reads the current one).
    for table, column in (("transitions", "channel"), ("verdicts", "channel"), ("alarms", "acked_via"),
                          ("alarms", "shelved_via")):
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


@MIGRATIONS(name="0005_sync")
def _sync(db: Database) -> None:
    # Camera snapshots (SnapshotRecord) for the snapshots lane: the JPEG stays a file of the snapshot folder
    # (its own budget may delete it before upload: the agent then skips the row, counted); detections and
    # model are JSON texts.
    db.execute(
        """CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            stem TEXT NOT NULL,
            camera TEXT NOT NULL,
            ts REAL NOT NULL,
            reason TEXT NOT NULL,
            path TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            detections TEXT NOT NULL,
            model TEXT
        )"""
    )
    # Ranges the cloud refused (a receipt's rejected range, or a whole batch answered 400), with its reason:
    # the outbox mark moves past them, the disk budget still counts them as not in the cloud.
    db.execute(
        """CREATE TABLE sync_quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tbl TEXT NOT NULL,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            key TEXT NOT NULL,
            reason TEXT NOT NULL,
            ts REAL NOT NULL,
            rows INTEGER NOT NULL,
            UNIQUE (tbl, first_id, last_id)
        )"""
    )
    # How far each of the disk budget's scans of unsynced readings has got (thinning.py): a restart goes on
    # from there instead of thinning the oldest readings again.
    db.execute("CREATE TABLE budget_cursors (stage TEXT PRIMARY KEY, after_id INTEGER NOT NULL)")


@MIGRATIONS(name="0006_alarm_models")
def _alarm_models(db: Database) -> None:
    # Which model made an alarm (a camera's detector: name, version, sha256 as JSON) and which risk model scored
    # it, with the score: the rollout's "every alarm carries its model", synced with the alarm.
    for column, sql_type in (("model", "TEXT"), ("risk_score", "REAL"), ("risk_model", "TEXT")):
        db.execute(f"ALTER TABLE alarms ADD COLUMN {column} {sql_type}")


@MIGRATIONS(name="0007_model_updates")
def _model_updates(db: Database) -> None:
    # The update agent's state (edge_runtime/updates/state.py): every package a slot saw, once per slot and
    # package sha256, with what became of it (installed, active, previous, retired, refused, rolled_back) and why.
    db.execute(
        """CREATE TABLE update_installs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slot TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            package_sha256 TEXT NOT NULL,
            artifact_sha256 TEXT,
            path TEXT,
            rollout_id TEXT,
            installed_ts REAL NOT NULL,
            activated_ts REAL,
            state TEXT NOT NULL,
            reason TEXT,
            UNIQUE (slot, package_sha256)
        )"""
    )
    # Per slot: which install is active and which is previous, the slot's state, the last refusal or rollback
    # (skipped while the desired state still names that package), the watch of a new model and the unclean
    # starts during it (a JSON list of timestamps: a crash loop across restarts boots the previous model).
    db.execute(
        """CREATE TABLE update_slots (
            slot TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            active_id INTEGER REFERENCES update_installs (id),
            previous_id INTEGER REFERENCES update_installs (id),
            reason TEXT,
            refused_sha256 TEXT,
            since_ts REAL,
            watch_until REAL,
            latency_budget_ms REAL,
            boots TEXT NOT NULL DEFAULT '[]'
        )"""
    )
    # Events (UpdateEvent JSON) not yet acknowledged by a report's 200: deleted only then.
    db.execute("CREATE TABLE update_events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, event TEXT NOT NULL)")
    # One row: whether the agent is running (set at start, cleared at a clean stop): found set at a start,
    # the last run ended uncleanly.
    db.execute("CREATE TABLE update_agent (id INTEGER PRIMARY KEY CHECK (id = 1), running INTEGER NOT NULL, ts REAL NOT NULL)")

def migrate(db: Database) -> list[str]:
    """Apply pending migrations; return the names of every applied one, in order."""
    MIGRATIONS.apply(db)
    return [m.name for m in MIGRATIONS.applied(db)]


def open_migrated(path: Path) -> sqlite3.Connection:
    """A write connection to ``path``, created (with its directory) and migrated if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(Database(conn, execute_plugins=False))
    except BaseException:
        conn.close()
        raise
    return conn


def migrate_file(path: Path) -> list[str]:
    """Create ``path`` (and its directory) if needed and migrate it; the connection is closed after."""
    conn = open_migrated(path)
    try:
        return [m.name for m in MIGRATIONS.applied(Database(conn, execute_plugins=False))]
    finally:
        conn.close()

"""Provenance in SQLite: 0004_provenance on a database with older rows, channels on every stored
transition and verdict revision, and the training labels (the latest revision by an authorised person)."""
from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from edge_runtime.alarms.engine import AlarmEngine, LabelRefused
from edge_runtime.alarms.model import Actor, AlarmKind, Channel, Verdict
from edge_runtime.config.alarms import AlarmSettings
from edge_runtime.store import Store
from edge_runtime.store.connection import connect
from edge_runtime.store.history_queries import read_once
from edge_runtime.store.labels import current_labels
from edge_runtime.store.migrations import MIGRATIONS, migrate
from tests.alarms.support import cond

SAM = Actor(Channel.DASHBOARD, "sam", may_label=True)
CONSOLE = Actor(Channel.MQTT, "control-room", may_label=True)
OPERATOR = Actor(Channel.MQTT, "gatehouse")


def labelling_engine(store: Store) -> tuple[AlarmEngine, list[str]]:
    """An engine storing every transition, with three open gas alarms a1..a3."""
    ids = itertools.count(1)
    engine = AlarmEngine(AlarmSettings(), store.record_transition, new_id=lambda: f"a{next(ids)}")
    for condition in ("gas:H2S", "gas:CO", "gas:LEL"):
        engine.update(cond(AlarmKind.GAS_HIGH, condition=condition))
    return engine, [a.alarm_id for a in sorted(engine.active(), key=lambda a: a.alarm_id)]


def labels(db_path: Path, after_id: int = 0) -> list[tuple[str, str, str, str]]:
    rows = read_once(db_path, lambda conn: current_labels(conn, after_id=after_id))
    return [(r["alarm_id"], r["verdict"], r["by"], r["channel"]) for r in rows]


def test_migration_adds_the_channels_and_leaves_older_rows_unknown(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(connect(path), execute_plugins=False)
    MIGRATIONS.apply(db, stop_before="0004_provenance")
    db.execute("INSERT INTO verdicts (alarm_id, verdict, \"by\", ts, kind, subject)"
               " VALUES ('old', 'confirmed', 'anyone at all', 1.0, 'gas_high', 'worker:w1')")
    db.execute("INSERT INTO transitions (alarm_id, ts, cause, from_state, to_state, \"by\")"
               " VALUES ('old', 1.0, 'verdict', 'normal', 'normal', 'anyone at all')")
    db.conn.commit()
    assert "0004_provenance" in migrate(db)
    for table, column in (("transitions", "channel"), ("verdicts", "channel"), ("alarms", "acked_via"),
                          ("alarms", "shelved_via")):
        assert column in db[table].columns_dict
    assert db.execute("SELECT channel FROM verdicts").fetchall() == [(None,)]
    db.close()
    assert labels(path) == []  # provenance unknown: no training label


def test_every_stored_transition_and_verdict_names_its_channel(store: Store, db_path: Path) -> None:
    engine, (a1, a2, _) = labelling_engine(store)
    engine.acknowledge(a1, OPERATOR)
    engine.acknowledge(a2, SAM)
    engine.set_verdict(a1, Verdict.CONFIRMED, SAM, note="crew out")
    engine.update(cond(AlarmKind.GAS_HIGH, False, condition="gas:H2S", value=0.0, threshold=20.0, direction="high"))
    assert store.flush(5)
    with sqlite3.connect(db_path) as db:
        transitions = db.execute('SELECT cause, "by", channel FROM transitions WHERE alarm_id = ? ORDER BY id',
                                 (a1,)).fetchall()
        verdicts = db.execute('SELECT verdict, "by", channel, note FROM verdicts').fetchall()
        acked = db.execute("SELECT acked_by, acked_via FROM alarms WHERE alarm_id = ?", (a1,)).fetchone()
    assert transitions == [("raised", None, "system"), ("acknowledged", "gatehouse", "mqtt"),
                           ("verdict", "sam", "dashboard"), ("closed", None, "system")]
    assert verdicts == [("confirmed", "sam", "dashboard", "crew out")] and acked == ("gatehouse", "mqtt")
    restored = {a.alarm_id: (a.acked_by, a.acked_via) for a in store.load_open_alarms()}
    assert restored[a2] == ("sam", Channel.DASHBOARD)  # a restart keeps who acknowledged, and how


def test_ten_names_on_one_alarm_store_only_the_supervisors_revisions_and_one_label(
    store: Store, db_path: Path
) -> None:
    """Reported: 13 verdict rows from 10 names on one alarm."""
    engine, (a1, _, _) = labelling_engine(store)
    supervisors = [SAM, CONSOLE]
    others = [Actor(Channel.MQTT, f"op{i}") for i in range(5)] + [Actor(Channel.WEARABLE, f"wb0{i}") for i in range(3)]
    for round_ in range(2):
        for i, actor in enumerate(supervisors + others):
            try:
                engine.set_verdict(a1, (Verdict.CONFIRMED, Verdict.FALSE_ALARM)[(round_ + i) % 2], actor)
            except LabelRefused:
                pass
    assert store.flush(5)
    revisions = [(v["verdict"], v["by"], v["channel"]) for v in store.verdicts(a1)]
    assert revisions == [("confirmed", "sam", "dashboard"), ("false_alarm", "control-room", "mqtt"),
                         ("confirmed", "control-room", "mqtt")]
    assert labels(db_path) == [(a1, "confirmed", "control-room", "mqtt")]


def test_an_mqtt_verdict_over_a_dashboard_confirmed_is_refused_unless_a_supervisor_revises_it(
    store: Store, db_path: Path
) -> None:
    """Reported: an MQTT verdict overwrote a dashboard 'confirmed'."""
    engine, (a1, a2, _) = labelling_engine(store)
    for alarm_id in (a1, a2):
        engine.acknowledge(alarm_id, SAM, verdict=Verdict.CONFIRMED)
    with pytest.raises(LabelRefused):
        engine.set_verdict(a1, Verdict.FALSE_ALARM, OPERATOR)
    engine.set_verdict(a2, Verdict.FALSE_ALARM, CONSOLE)
    assert store.flush(5)
    assert [(v["alarm_id"], v["verdict"], v["channel"]) for v in store.verdicts()] == [
        (a1, "confirmed", "dashboard"), (a2, "confirmed", "dashboard"), (a2, "false_alarm", "mqtt"),
    ]  # the revision is kept beside the verdict it replaced
    assert labels(db_path) == [(a1, "confirmed", "sam", "dashboard"), (a2, "false_alarm", "control-room", "mqtt")]


def test_an_exporter_after_an_id_gets_an_alarm_again_when_its_label_is_revised(store: Store, db_path: Path) -> None:
    engine, (a1, a2, a3) = labelling_engine(store)
    for alarm_id in (a1, a2, a3):
        engine.set_verdict(alarm_id, Verdict.CONFIRMED, SAM)
    assert store.flush(5)
    exported = read_once(db_path, lambda conn: current_labels(conn, limit=2))
    assert [r["alarm_id"] for r in exported] == [a1, a2]
    engine.set_verdict(a1, Verdict.FALSE_ALARM, CONSOLE)
    assert store.flush(5)
    assert labels(db_path, after_id=exported[-1]["id"]) == [
        (a3, "confirmed", "sam", "dashboard"), (a1, "false_alarm", "control-room", "mqtt"),
    ]

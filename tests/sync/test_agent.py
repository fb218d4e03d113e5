"""The agent against the cloud double: lanes, receipts, quarantine, 413, the breaker and heartbeats."""
from __future__ import annotations

import random
import secrets
from pathlib import Path

from edge_runtime.alarms.model import AlarmState, TransitionCause, Verdict
from edge_runtime.store import Store
from edge_runtime.store.zone_actions_table import ZoneActionsTable
from tests.store.conftest import gas, make_alarm, transition

from .cloud_double import CloudDouble
from .conftest import agent_spec, committed_marks, running, sync_settings, until


def fill(store: Store, alarms: int = 3, readings: int = 2_000) -> None:
    for i in range(readings):
        store.record_observation(gas(ts=1_000.0 + i))
    for i in range(alarms):
        alarm = make_alarm(f"a{i}")
        store.record_transition(transition(alarm))
        acked = make_alarm(f"a{i}", state=AlarmState.ACKED, verdict=Verdict.CONFIRMED, updated_ts=1001.0)
        store.record_transition(transition(acked, TransitionCause.VERDICT, AlarmState.UNACK, by="sup"))
    store.record_exposure_minute("w7", "H2S", 60.0, 1.5)
    assert store.flush()


async def test_events_are_durable_before_any_reading(store: Store, cloud: CloudDouble, db_path: Path,
                                                     credential_file: Path) -> None:
    fill(store)
    zone_actions = ZoneActionsTable(db_path)  # written by the dashboard in the daemon, on its own connection
    zone_actions.insert("tank-3", "evacuate", "sup", 1_002.0, "gas", "a0")
    zone_actions.close()
    settings = sync_settings(cloud.url, credential_file, max_rows=500)
    async with running(agent_spec(store, settings, db_path)):
        await until(lambda: len(cloud.rows["readings"]) == 2_000, what="every reading stored")
    assert len(cloud.rows["alarms"]) == 3 and len(cloud.rows["transitions"]) == 6 and len(cloud.rows["verdicts"]) == 3
    assert cloud.rows["zone_actions"][1] == {"zone": "tank-3", "action": "evacuate", "by": "sup", "ts": 1_002.0,
                                             "note": "gas", "alarm_id": "a0"}
    events = ("alarms", "transitions", "verdicts", "zone_actions")
    last_event = max(t for (table, _), t in cloud.stored_at.items() if table in events)
    first_reading = min(t for (table, _), t in cloud.stored_at.items() if table == "readings")
    assert last_event < first_reading
    assert [r.tables for r in cloud.requests][:1] == [events]
    # the alarm record is the engine's own, restore-only columns left out, booleans and lists decoded
    latest = max(cloud.rows["alarms"])
    alarm = make_alarm(f"a{cloud.rows['alarms'][latest]['alarm_id'][1:]}", state=AlarmState.ACKED,
                       verdict=Verdict.CONFIRMED, updated_ts=1001.0)
    assert cloud.rows["alarms"][latest] == alarm.record().model_dump()
    assert cloud.stored_again == 0 and cloud.duplicates == 0
    assert committed_marks(db_path)["readings"] == max(cloud.rows["readings"])


async def test_marks_move_only_on_a_receipt(store: Store, cloud: CloudDouble, db_path: Path,
                                            credential_file: Path) -> None:
    fill(store, alarms=1, readings=0)
    cloud.down = True
    settings = sync_settings(cloud.url, credential_file)
    async with running(agent_spec(store, settings, db_path)) as agent:
        await until(lambda: len(cloud.requests) >= 3, what="three refused batches")
        assert store.flush() and committed_marks(db_path) == {}  # 503: nothing moved
        assert agent.state().last_error == "503: unavailable"
        cloud.down = False
        cloud.script.append("lost_receipt")  # stored, but the answer never arrives
        await until(lambda: cloud.duplicates >= 1, what="the re-sent batch answered duplicate")
        await until(lambda: store.flush() and committed_marks(db_path).get("transitions") == 2, what="marks")
        state = agent.state()
    assert [r.status for r in cloud.requests if r.status != 503] == [0, 200, 200]  # lost; duplicate; exposure
    assert cloud.stored_again == 0  # the re-send carried the same ranges: stored once
    assert state.last_error is None and state.last_success_ts is not None


async def test_a_bad_batch_is_quarantined_with_the_reason_and_the_agent_moves_on(
    store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path
) -> None:
    fill(store, alarms=2, readings=0)
    cloud.script.append("400")
    settings = sync_settings(cloud.url, credential_file)
    async with running(agent_spec(store, settings, db_path)) as agent:
        await until(lambda: store.flush() and committed_marks(db_path).get("verdicts") == 2, what="marks past it")
        store.record_transition(transition(make_alarm("later")))
        await until(lambda: "later" in {r["alarm_id"] for r in cloud.rows["alarms"].values()}, what="next batch")
        state = agent.state()
    assert [r.status for r in cloud.requests if "verdicts" in r.tables] == [400]  # sent once, never again
    assert [r.tables for r in cloud.requests if r.status == 200] == [("exposure_minutes",), ("alarms", "transitions")]
    quarantined = store._read("SELECT tbl, first_id, last_id, reason, rows FROM sync_quarantine ORDER BY tbl")
    assert quarantined == [
        {"tbl": "alarms", "first_id": 2, "last_id": 4, "reason": "400: header mismatch", "rows": 2},
        {"tbl": "transitions", "first_id": 1, "last_id": 4, "reason": "400: header mismatch", "rows": 4},
        {"tbl": "verdicts", "first_id": 1, "last_id": 2, "reason": "400: header mismatch", "rows": 2},
    ]
    assert state.quarantined == 3 and state.last_quarantine.endswith("400: header mismatch")


async def test_a_rejected_chunk_is_quarantined_and_the_rest_of_the_batch_is_durable(
    store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path
) -> None:
    fill(store, alarms=2, readings=0)
    cloud.reject_tables = {"verdicts"}
    async with running(agent_spec(store, sync_settings(cloud.url, credential_file), db_path)):
        await until(lambda: store.flush() and committed_marks(db_path).get("verdicts") == 2, what="marks")
    assert len(cloud.rows["alarms"]) == 2 and len(cloud.rows["transitions"]) == 4 and not cloud.rows["verdicts"]
    assert store._read("SELECT tbl, reason FROM sync_quarantine") == [{"tbl": "verdicts", "reason": "verdicts refused"}]
    assert [r.tables for r in cloud.requests].count(("alarms", "transitions", "verdicts")) == 1


async def test_413_halves_the_batch_until_it_fits(store: Store, cloud: CloudDouble, db_path: Path,
                                                 credential_file: Path) -> None:
    fill(store, alarms=0, readings=0)
    rng = random.Random(7)
    for i in range(4_000):  # noisy values: they do not compress away
        store.record_observation(gas(value=rng.random(), ts=1_000.0 + i * 0.37))
    assert store.flush()
    cloud.max_body = 12_000
    settings = sync_settings(cloud.url, credential_file, max_rows=4_000)
    async with running(agent_spec(store, settings, db_path)) as agent:
        await until(lambda: len(cloud.rows["readings"]) == 4_000, what="every reading stored")
        state = agent.state()
    readings = [r for r in cloud.requests if r.tables == ("readings",) or r.status == 413]
    statuses = [r.status for r in readings]
    assert statuses[0] == 413 and statuses[-1] == 200 and state.too_large == statuses.count(413)
    accepted = [r.rows for r in readings if r.status == 200]
    assert max(accepted) <= 4_000 // 2 and all(r.body_bytes <= 12_000 for r in readings if r.status == 200)
    assert cloud.stored_again == 0


async def test_a_single_row_too_large_is_quarantined(store: Store, cloud: CloudDouble, db_path: Path,
                                                    credential_file: Path) -> None:
    store.record_transition(transition(make_alarm("big", message=secrets.token_urlsafe(4_000))))
    assert store.flush()
    cloud.max_body = 600
    async with running(agent_spec(store, sync_settings(cloud.url, credential_file), db_path)):
        await until(lambda: store.flush() and committed_marks(db_path).get("transitions") == 1, what="moved on")
    # alarm + transition: 413, halved to one row; the alarm alone: 413, quarantined; the transition fits
    assert [r.status for r in cloud.requests] == [413, 413, 200]
    assert store._read("SELECT tbl, reason FROM sync_quarantine") == [
        {"tbl": "alarms", "reason": "a single row too large: 413: over 600 bytes"}]
    assert list(cloud.rows["transitions"]) == [1]


async def test_a_refused_device_opens_the_breaker(store: Store, cloud: CloudDouble, db_path: Path,
                                                 credential_file: Path) -> None:
    fill(store, alarms=1, readings=0)
    cloud.script.append("401")
    settings = sync_settings(cloud.url, credential_file, open_s=0.6)
    async with running(agent_spec(store, settings, db_path)) as agent:
        await until(lambda: cloud.requests, what="a request")
        await until(lambda: agent.state().breaker == "open", timeout=1.0, what="breaker open")
        assert agent.state().last_error == "401: revoked key"
        await until(lambda: len(cloud.rows["alarms"]) == 1, what="the trial after open_s")
        opened_for = cloud.requests[1].ts - cloud.requests[0].ts
        await until(lambda: agent.state().breaker == "closed", what="the breaker closed by the trial's receipt")
    assert opened_for >= 0.55  # nothing was sent while open


async def test_a_dead_cloud_gets_backoff_then_the_breaker_and_heartbeats_go_on(
    store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path
) -> None:
    fill(store, alarms=1, readings=0)
    cloud.down = True
    settings = sync_settings(cloud.url, credential_file, retry_initial_s=0.05, retry_max_s=0.4, failures_to_open=4,
                             open_s=1.0, heartbeat_interval_s=0.1)
    async with running(agent_spec(store, settings, db_path)) as agent:
        await until(lambda: len(cloud.requests) >= 5, what="five attempts")
        state = agent.state()
        heartbeats = len(cloud.heartbeats)
    times = [r.ts for r in cloud.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 0.05, 0.1, 0.2 (each minus up to 10 % jitter), then open for 1 s after the 4th failure
    for gap, delay in zip(gaps, (0.05, 0.1, 0.2)):
        assert 0.9 * delay - 0.01 <= gap <= delay + 0.1, gaps
    assert gaps[3] >= 1.0, gaps
    assert state.failures >= 4 and state.last_error == "503: unavailable" and state.last_success_ts is None
    assert heartbeats >= 10  # every 0.1 s while batches failed
    assert cloud.heartbeats[-1]["last_error"] == "503: unavailable"
    assert committed_marks(db_path) == {}

"""Restart: a second Store over the same file restores what the engine had."""
from __future__ import annotations

from cloud_sync.contract.records import AlarmRecord
from edge_runtime.alarms.model import AlarmState, Channel, TransitionCause, Verdict
from edge_runtime.store import Store

from .conftest import StoreFactory, gas, make_alarm, transition


def record_site_history(store: Store) -> dict[str, object]:
    """Four alarms in different states, as the engine would have reported them."""
    raised = make_alarm("raised")
    acked = make_alarm("acked", state=AlarmState.ACKED, acked_by="sup-1", acked_ts=1010.0, updated_ts=1010.0)
    shelved = make_alarm(
        "shelved",
        state=AlarmState.SHELVED,
        shelved_by="sup-2",
        shelved_until=5000.0,
        shelve_reason="sensor swap",
        muted_until=1200.0,
        last_announced_ts=1005.0,
        latching=True,
        condition_active=False,
        updated_ts=1020.0,
    )
    closed = make_alarm("closed", state=AlarmState.NORMAL, updated_ts=1030.0)
    store.record_transition(transition(raised))
    store.record_transition(transition(make_alarm("acked")))
    store.record_transition(
        transition(acked, TransitionCause.ACKNOWLEDGED, AlarmState.UNACK, by="sup-1", note="on my way", ts=1010.0)
    )
    store.record_transition(transition(shelved, TransitionCause.SHELVED, AlarmState.UNACK, by="sup-2", ts=1020.0))
    store.record_transition(transition(make_alarm("closed")))
    store.record_transition(transition(closed, TransitionCause.CLOSED, AlarmState.UNACK, ts=1030.0))
    return {"raised": raised, "acked": acked, "shelved": shelved}


def test_open_alarms_and_fusion_state_come_back_after_restart(make_store: StoreFactory) -> None:
    first = make_store()
    expected = record_site_history(first)
    state = {"workers": {"w7": {"twa": [1.5, 2.0], "zone": "tank-3"}}, "version": 3}
    first.save_fusion_state({"stale": True})
    first.save_fusion_state(state)
    first.record_observation(gas())
    first.close()

    second = make_store()
    restored = {alarm.alarm_id: alarm for alarm in second.load_open_alarms()}
    assert restored == expected  # every field: state, ack, shelving, notify targets, mutes
    assert second.load_fusion_state() == state
    assert second.readings_count() == 1


def test_history_is_kept_per_alarm(store: Store) -> None:
    record_site_history(store)
    assert store.flush()

    history = store.transitions("acked")
    assert [(t["cause"], t["from_state"], t["to_state"], t["by"], t["note"]) for t in history] == [
        ("raised", "normal", "active_unacknowledged", None, None),
        ("acknowledged", "active_unacknowledged", "active_acknowledged", "sup-1", "on my way"),
    ]
    records = store.alarms()
    assert [r["alarm_id"] for r in records] == ["closed", "shelved", "acked", "raised"]  # newest first
    assert set(AlarmRecord.model_fields) <= set(records[1])  # the published record's shape
    assert records[1]["workers"] == ["w7", "w8"] and records[1]["latching"] is True
    assert [r["alarm_id"] for r in store.alarms(since=1015.0)] == ["closed", "shelved"]
    assert len(store.alarms(limit=1)) == 1


def test_verdict_transitions_are_training_labels(store: Store) -> None:
    alarm = make_alarm("v1", state=AlarmState.ACKED, verdict=Verdict.FALSE_ALARM, updated_ts=1100.0)
    store.record_transition(
        transition(alarm, TransitionCause.VERDICT, AlarmState.ACKED, by="sup-1", note="bump test", ts=1100.0,
                   channel=Channel.DASHBOARD)
    )
    store.record_transition(transition(make_alarm("v2")))
    assert store.flush()

    [label] = store.verdicts()
    assert {k: v for k, v in label.items() if k != "id"} == {
        "alarm_id": "v1",
        "verdict": "false_alarm",
        "by": "sup-1",
        "note": "bump test",
        "ts": 1100.0,
        "kind": "gas_high",
        "subject": "worker:w7",
        "channel": "dashboard",
    }
    assert store.verdicts("v2") == []
    assert store.alarms()[0]["verdict"] == "false_alarm"


def test_no_fusion_state_before_the_first_save(store: Store) -> None:
    assert store.load_fusion_state() is None
    assert store.load_open_alarms() == []

"""Outbox high-water marks: what the sync agent still has to send."""
from __future__ import annotations

from typing import Any

import pytest

from edge_runtime.alarms.model import AlarmState, TransitionCause
from edge_runtime.store import Store

from .conftest import StoreFactory, gas, make_alarm, transition


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


def test_pending_follows_the_high_water_mark(store: Store) -> None:
    for i in range(10):
        store.record_observation(gas(ts=float(i)))
    assert store.flush()

    assert ids(store.outbox.pending("readings", 4)) == [1, 2, 3, 4]
    store.outbox.mark_synced("readings", 4)
    assert ids(store.outbox.pending("readings", 100)) == [5, 6, 7, 8, 9, 10]
    store.outbox.mark_synced("readings", 2)  # marks never move back
    assert store.outbox.high_water_mark("readings") == 4
    assert store.outbox.pending("readings", 1)[0]["kind"] == "gas:H2S"


def test_marks_survive_a_restart(make_store: StoreFactory) -> None:
    first = make_store()
    first.record_transition(transition(make_alarm("a1")))
    assert first.flush()
    first.outbox.mark_synced("alarms", 1)
    first.outbox.mark_synced("transitions", 1)
    first.close()

    second = make_store()
    assert second.outbox.high_water_mark("alarms") == 1
    assert second.outbox.pending("alarms") == []
    assert second.outbox.pending("readings") == []


def test_an_updated_alarm_is_pending_again(store: Store) -> None:
    store.record_transition(transition(make_alarm("a1")))
    assert store.flush()
    [row] = store.outbox.pending("alarms")
    store.outbox.mark_synced("alarms", row["id"])

    acked = make_alarm("a1", state=AlarmState.ACKED, acked_by="sup")
    store.record_transition(transition(acked, TransitionCause.ACKNOWLEDGED, AlarmState.UNACK))
    assert store.flush()
    [again] = store.outbox.pending("alarms")
    assert again["id"] > row["id"] and again["state"] == "active_acknowledged"
    assert ids(store.outbox.pending("transitions")) == [1, 2]


def test_only_synced_tables_have_marks(store: Store) -> None:
    with pytest.raises(ValueError, match="fusion_state"):
        store.outbox.pending("fusion_state")
    with pytest.raises(ValueError):
        store.outbox.mark_synced("outbox", 1)

"""Facade contract: the loop-side calls never raise; a database that cannot be opened does not stop open()."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import Store, StoreError
from firmware_bridge.readings import Gas, GasSample, Observation

from .conftest import StoreFactory, gas, make_alarm, transition, wait_for


def test_calls_after_close_are_counted_not_raised(store: Store) -> None:
    store.close()
    store.record_observation(gas())
    store.record_transition(transition(make_alarm()))
    store.record_exposure_minute("w7", "H2S", 0.0, 1.0)
    store.save_fusion_state({"x": 1})
    assert store.stats.record_errors == 4
    store.close()  # closing twice is harmless


def test_bad_input_is_counted_not_raised(make_store: StoreFactory) -> None:
    store = make_store(readings_sample_s=1.0)
    circular: dict[str, object] = {}
    circular["self"] = circular
    store.save_fusion_state(circular)
    store.record_observation(None)  # type: ignore[arg-type]  (refused by the store process)
    store.record_transition(None)  # type: ignore[arg-type]
    assert store.flush()
    assert store.stats.record_errors == 3


def test_a_reading_that_cannot_be_encoded_spoils_only_itself(store: Store) -> None:
    circular: dict[str, object] = {}
    circular["self"] = circular
    store.record_observation(gas())
    store.record_observation(Observation("det-1", GasSample(Gas.H2S, 1.0, "ppm"), 0.0, circular))
    store.record_observation(gas())
    assert store.flush()
    assert store.readings_count() == 2
    assert store.stats.record_errors == 1


def test_a_file_that_cannot_be_a_database_is_a_storage_failure_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "site.db").write_bytes(b"this is not sqlite" * 100)
    store = Store(StorageSettings(path=tmp_path / "site.db", spill_path=tmp_path / "spill"))
    try:
        store.open()  # the alarm path starts all the same
        health = store.health()
        assert not health.writable and "not a database" in health.reason
        store.record_transition(transition(make_alarm("held")))
        wait_for(lambda: store.health().held == 1)
        assert store.health().spilled == 1 and len(list((tmp_path / "spill").glob("site.db.spill-*.jsonl"))) == 1
        with pytest.raises(StoreError, match="not a database"):
            store.load_open_alarms()
    finally:
        store.close()


def test_reads_need_an_open_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(StorageSettings(path=tmp_path / "site.db")).readings_count()

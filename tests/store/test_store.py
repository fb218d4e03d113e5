"""Facade contract: the loop-side calls never raise; open() fails loudly."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import Store, StoreError
from firmware_bridge.readings import Gas, GasSample, Observation

from .conftest import StoreFactory, gas, make_alarm, transition


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


def test_open_fails_loudly_when_the_file_cannot_be_a_database(tmp_path: Path) -> None:
    (tmp_path / "site.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"site\.db"):
        Store(StorageSettings(path=tmp_path / "site.db")).open()


def test_reads_need_an_open_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(StorageSettings(path=tmp_path / "site.db")).readings_count()

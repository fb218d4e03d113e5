"""readings_sample_s: one reading per device and kind per period; events always kept."""
from __future__ import annotations

from pathlib import Path

from edge_runtime.store.rows import reading_row
from edge_runtime.store.sampling import Sampler
from edge_runtime.store.statements import Row
from firmware_bridge.readings import DetectorStatus, Gas, GasSample, HeartRate, Observation, PanicButton

from .conftest import StoreFactory


def obs(reading: object, ts: float, device: str = "w1") -> Observation:
    return Observation(device, reading, ts)  # type: ignore[arg-type]


def row(reading: object, ts: float, device: str = "w1") -> Row:
    return reading_row(obs(reading, ts, device))


def test_sampler_keeps_one_per_device_and_kind_per_period() -> None:
    sampler = Sampler(1.0)
    h2s, co = GasSample(Gas.H2S, 1.0, "ppm"), GasSample(Gas.CO, 2.0, "ppm")
    kept = [
        sampler.keep(row(h2s, 0.0)),
        sampler.keep(row(h2s, 0.5)),  # same device and gas, same period
        sampler.keep(row(co, 0.5)),  # another gas of the same detector
        sampler.keep(row(h2s, 0.5, device="w2")),  # another device
        sampler.keep(row(HeartRate(80), 0.6)),
        sampler.keep(row(h2s, 1.0)),  # next period
        sampler.keep(row(h2s, 0.2)),  # clock stepped back: a new period starts
    ]
    assert kept == [True, False, True, True, True, True, True]


def test_events_are_never_sampled_out() -> None:
    sampler = Sampler(60.0)
    assert all(sampler.keep(row(PanicButton(True), 0.1 * i)) for i in range(5))
    assert all(sampler.keep(row(DetectorStatus(1.0, 2.0), 0.1 * i)) for i in range(5))
    assert all(sampler.keep(("w1", "a_new_kind", 0.1 * i, None, None, None, None)) for i in range(5))


def test_store_applies_the_sample_period(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store(readings_sample_s=1.0)
    for i in range(100):
        store.record_observation(obs(GasSample(Gas.H2S, 1.0, "ppm"), i * 0.1))
    assert store.flush()
    assert store.readings_count() == 10
    assert store.stats.sampled_out == 90

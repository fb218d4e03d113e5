"""Cost measurement: a bounded single-row loop in a child process gives sane numbers."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from models.risk.cost import Cost, CostError, for_profile, measure
from models.risk.targets import PROFILES

from .conftest import Exported
from .pipelines import N_FEATURES


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_measure_returns_sane_bounded_numbers(exported: Exported, fmt: str) -> None:
    began = time.monotonic()
    cost = measure(exported.path(fmt), fmt, N_FEATURES, rows=500, seconds_budget=0.5)
    assert time.monotonic() - began < 30  # a child start, an import, a load and at most 0.5 s of calls
    assert 0 < cost.latency_p50_ms <= cost.latency_p99_ms < 100
    assert 10 < cost.qps < 1e7
    assert 0 <= cost.peak_memory_mb < 200
    assert cost.size_bytes == exported.path(fmt).stat().st_size


def test_the_time_budget_bounds_the_loop(exported: Exported) -> None:
    began = time.monotonic()
    cost = measure(exported.onnx, "onnx", N_FEATURES, rows=10_000_000, seconds_budget=0.3)
    assert time.monotonic() - began < 30
    assert cost.qps * 0.3 < 10_000_000 * 0.5  # stopped by time, far short of the count


def test_latency_scales_to_a_profile() -> None:
    here = Cost(latency_p50_ms=0.1, latency_p99_ms=0.4, qps=5000.0, peak_memory_mb=3.0, size_bytes=1234)
    pi4 = for_profile(here, PROFILES["pi4"])
    assert pi4 == Cost(latency_p50_ms=0.1 * 6, latency_p99_ms=0.4 * 6, qps=5000.0 / 6, peak_memory_mb=3.0,
                       size_bytes=1234)
    assert for_profile(here, PROFILES["x86"]) == here


def test_a_broken_or_missing_artifact_is_a_cost_error(tmp_path: Path) -> None:
    with pytest.raises(CostError, match="no such artifact"):
        measure(tmp_path / "nothing.onnx", "onnx", N_FEATURES)
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(CostError, match="measurement failed"):
        measure(broken, "tflite", N_FEATURES, rows=10, seconds_budget=0.1)

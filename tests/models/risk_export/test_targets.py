"""Device hardware profiles map to target profiles."""
from __future__ import annotations

import pytest

from models.risk.targets import PROFILES, RISK_MODEL_SHARE, TargetProfile, profile_for

BOTH = {"litert": "1.2.0", "onnxruntime": "1.20.1"}


@pytest.mark.parametrize(("arch", "accelerator", "runtimes", "name", "runtime"), [
    ("aarch64", "none", BOTH, "pi4", "tflite"),
    ("armv7l", "none", {"litert": "1.2.0"}, "pi4", "tflite"),
    ("aarch64", "hailo", BOTH, "pi5", "tflite"),
    ("aarch64", "cuda", {"onnxruntime": "1.20.1", "tensorrt": "10.3", "litert": None}, "jetson-orin", "onnx"),
    ("x86_64", "none", BOTH, "x86", "onnx"),
    ("aarch64", "none", {"onnxruntime": "1.20.1"}, "pi4", "onnx"),  # the profile's runtime is missing: the other
    ("x86_64", "none", {"litert": "1.2.0"}, "x86", "tflite"),
])
def test_hardware_profiles_map_to_targets(arch: str, accelerator: str, runtimes: dict, name: str, runtime: str) -> None:
    target = profile_for(arch, accelerator, runtimes, memory_mb=65536)
    assert (target.name, target.runtime) == (name, runtime)
    assert target.cost_scale == PROFILES[name].cost_scale
    assert target.memory_budget_mb == PROFILES[name].memory_budget_mb


def test_a_small_device_gets_a_smaller_budget() -> None:
    assert profile_for("aarch64", "none", BOTH, memory_mb=1024).memory_budget_mb == 1024 * RISK_MODEL_SHARE


def test_every_profile_records_where_its_scale_comes_from() -> None:
    assert {p.name for p in PROFILES.values()} == {"pi4", "pi5", "jetson-orin", "x86"}
    assert all(p.basis and p.cost_scale >= 1.0 for p in PROFILES.values())
    assert PROFILES["pi4"].cost_scale > PROFILES["pi5"].cost_scale > PROFILES["jetson-orin"].cost_scale


def test_bad_profiles_are_named() -> None:
    with pytest.raises(ValueError, match="none of the risk model's runtimes"):
        profile_for("aarch64", "none", {"tensorrt": "10.3"}, 4096)
    with pytest.raises(ValueError, match="unknown cpu_arch 'riscv64'"):
        profile_for("riscv64", "none", BOTH, 4096)
    with pytest.raises(ValueError, match="memory_mb"):
        profile_for("x86_64", "none", BOTH, 0)
    with pytest.raises(ValueError, match="runtime 'tensorrt'"):
        TargetProfile("gpu", "tensorrt", 10, 1, "x")  # type: ignore[arg-type]

"""Build profiles: what each registered device gets, and engine targets the edge's TensorRT back-end accepts."""
from __future__ import annotations

import pytest

from edge_runtime.vision.backends.engine_cache import DeviceProfile
from models.build.check import Evaluation, check
from models.build.targets import PROFILES, GpuTarget, target_for
from models.build.tensorrt import builder_for, local_gpu
from models.risk.targets import PROFILES as RISK_PROFILES


def test_every_risk_profile_has_a_build_profile_of_the_same_name() -> None:
    assert set(PROFILES) == set(RISK_PROFILES)
    assert [p.name for p in PROFILES.values() if p.tflite] == ["pi4", "pi5"]


@pytest.mark.parametrize(("arch", "accel", "runtimes", "cc", "name", "gpu"), [
    ("aarch64", "none", {"litert": "2.3"}, None, "pi4", None),
    ("aarch64", "hailo", {"litert": "2.3"}, None, "pi5", None),
    ("x86_64", "none", {"onnxruntime": "1.20"}, None, "x86", None),
    ("aarch64", "cuda", {"tensorrt": "10.3.0.30"}, "8.7", "jetson-orin", GpuTarget((8, 7), "10.3")),
    ("aarch64", "cuda", {"tensorrt": "8.5.2"}, "7.2", "jetson-sm72", GpuTarget((7, 2), "8.5")),
    ("aarch64", "cuda", {}, None, "jetson-orin", GpuTarget((8, 7), "10.3")),
    ("x86_64", "cuda", {"tensorrt": "10.8.0"}, "8.9", "cuda-sm89", GpuTarget((8, 9), "10.8")),
])
def test_a_registered_device_gets_its_profile(arch: str, accel: str, runtimes: dict, cc: str | None, name: str,
                                              gpu: GpuTarget | None) -> None:
    target = target_for(arch, accel, runtimes, cc)
    assert (target.name, target.gpu) == (name, gpu)


def test_an_engine_target_names_what_the_edge_checks() -> None:
    tag = GpuTarget((8, 7), "10.3.0.30").tag("jetson-orin")
    assert tag == "jetson-orin-sm87-trt10.3"
    assert DeviceProfile("Orin", (8, 7), "10.3.0.30").mismatch(tag) is None
    assert "sm86" in DeviceProfile("RTX 3060", (8, 6), "10.3.0").mismatch(tag)
    assert "TensorRT" in DeviceProfile("Orin", (8, 7), "10.4.0").mismatch(tag)


def test_without_a_matching_builder_the_reason_is_given() -> None:
    local = local_gpu()
    reason = builder_for(GpuTarget((1, 0), "1.0"))  # no GPU anywhere is sm10 with TensorRT 1.0
    assert isinstance(reason, str) and reason
    if isinstance(local, str):
        assert reason == local


def test_the_check_names_each_lost_recall() -> None:
    numbers, reason = check("model_int8.tflite", Evaluation(0.70, {"person": 0.9, "no_vest": 0.4}),
                            Evaluation(0.75, {"person": 0.9, "no_vest": 0.6}), 0.2, None, 0.05)
    assert reason == ("model_int8.tflite: recall of no_vest 0.400 < float model's 0.600 - margin 0.050")
    assert (numbers.recall, numbers.reference_recall, numbers.max_deviation, numbers.margin) == (0.7, 0.75, 0.2, 0.05)
    assert check("a", Evaluation(0.70), Evaluation(0.75), 0.0, None, 0.05)[1] is None  # exactly at the bound
    assert "outputs: off" in check("a", Evaluation(0.8), Evaluation(0.75), 1.0, "off", 0.05)[1]

"""Pure choices, no database: canaries (share, one per device type, deterministic), the artifact for a
hardware profile, target selectors and pins, and the version a device is desired to run in each
rollout state."""
from __future__ import annotations

from typing import Any

import pytest

from cloud_sync.registry.devices import Device
from cloud_sync.registry.profile import HardwareProfile
from cloud_sync.rollout.artifacts import choose, engine_fits
from cloud_sync.rollout.canary import pick_canaries
from cloud_sync.rollout.desired import choose_version
from cloud_sync.rollout.records import Pin
from cloud_sync.rollout.selectors import ProfileMatch, Selector
from models.package import Artifact

from .fleet import ORIN, PI, X86, XAVIER

SHA = "ab" * 32
ARTIFACTS = [Artifact(path="model_fp32.tflite", format="tflite", precision="fp32", sha256=SHA),
             Artifact(path="model_int8.tflite", format="tflite", precision="int8", sha256=SHA),
             Artifact(path="model.onnx", format="onnx", sha256=SHA),
             Artifact(path="orin.engine", format="tensorrt", precision="fp16", target="orin-sm87-trt8.6", sha256=SHA)]


def device(device_id: str, device_type: str = "jetson", profile: dict[str, Any] = ORIN, site: str = "a") -> Device:
    return Device(id=device_id, site=site, name=device_id, device_type=device_type,
                  profile=HardwareProfile.model_validate(profile), created_ts=0, updated_ts=0)


def test_canaries_take_the_share_rounded_up_and_one_of_each_type() -> None:
    fleet = [device(f"j{i}") for i in range(18)] + [device("pi-1", "pi", PI), device("pi-2", "pi", PI)]
    canaries = pick_canaries("m", "2.0", fleet, 0.1)
    assert len(canaries) == 2  # ceil(0.1 × 20)
    assert {d.device_type for d in fleet if d.id in canaries} == {"jetson", "pi"}
    assert pick_canaries("m", "2.0", list(reversed(fleet)), 0.1) == canaries  # deterministic, whatever the order
    assert len(pick_canaries("m", "2.0", fleet, 0.25)) == 5
    three_types = fleet + [device("x-1", "x86", X86)]
    assert len(pick_canaries("m", "2.0", three_types, 0.0)) == 3  # no share: still one of each type
    assert pick_canaries("m", "2.0", fleet, 1.0) == {d.id for d in fleet}
    assert pick_canaries("m", "2.0", [], 0.5) == set()
    spread = {frozenset(pick_canaries("m", f"2.{v}", fleet[:18], 0.1)) for v in range(8)}
    assert len(spread) > 1  # other candidates test on other devices


def test_named_canaries_come_first_and_every_other_type_still_gets_one() -> None:
    fleet = [device(f"j{i}") for i in range(18)] + [device("pi-1", "pi", PI), device("pi-2", "pi", PI)]
    canaries = pick_canaries("m", "2.0", fleet, 0.1, preferred=["j7"])
    assert "j7" in canaries and len(canaries) == 2
    assert {d.device_type for d in fleet if d.id in canaries} == {"jetson", "pi"}
    assert pick_canaries("m", "2.0", fleet, 0.0, preferred=["j7", "pi-2"]) == {"j7", "pi-2"}


@pytest.mark.parametrize(("profile", "chosen"), [
    (ORIN, "orin.engine"),  # sm87 and TensorRT 8.6: the engine built for it
    (XAVIER, "model.onnx"),  # another GPU (sm72) and TensorRT 8.5: never an engine of another target
    ({**ORIN, "runtimes": {"tensorrt": "10.3.0", "cuda": "12.6"}}, "model.onnx"),
    ({**ORIN, "runtimes": {"cuda": "12.2"}}, "model.onnx"),  # no TensorRT installed
    (PI, "model_int8.tflite"),
    ({**PI, "cpu_arch": "armv7l"}, "model_int8.tflite"),
    (X86, "model.onnx"),
])
def test_the_artifact_follows_the_hardware_profile(profile: dict[str, Any], chosen: str) -> None:
    assert choose(ARTIFACTS, HardwareProfile.model_validate(profile)).path == chosen


def test_engine_targets_must_name_the_gpu_and_the_tensorrt_line() -> None:
    orin = HardwareProfile.model_validate(ORIN)
    assert engine_fits("orin-sm87-trt8", orin) and engine_fits("jetson-orin-sm87-trt8.6", orin)
    assert not engine_fits("orin-sm87-trt8.5", orin) and not engine_fits("cpu", orin)
    assert not engine_fits("orin-sm72-trt8.6", orin)
    assert not engine_fits("orin-sm87-trt8.6", HardwareProfile.model_validate(PI))
    only_onnx_and_tflite = ARTIFACTS[:3]
    assert choose(only_onnx_and_tflite, orin).path == "model.onnx"
    assert choose([ARTIFACTS[0]], HardwareProfile.model_validate(X86)).path == "model_fp32.tflite"


def test_selectors_need_every_criterion_given() -> None:
    orin, pi = device("j1", site="tunnel"), device("p1", "pi", PI, site="plant")
    assert Selector().matches(orin) and Selector().matches(pi)
    assert Selector(sites=["tunnel", "x"]).matches(orin) and not Selector(sites=["tunnel"]).matches(pi)
    assert Selector(device_types=["pi"], devices=["p1"]).matches(pi)
    assert not Selector(device_types=["pi"], devices=["j1"]).matches(pi)
    assert Selector(profile=ProfileMatch(accelerator="cuda", tensorrt="8.6")).matches(orin)
    assert not Selector(profile=ProfileMatch(tensorrt="8.5")).matches(orin)
    assert not Selector(profile=ProfileMatch(tensorrt="8")).matches(device("p", "pi", PI))
    match = ProfileMatch(gpu_compute_capability="8.7", cpu_arch="aarch64")
    assert ProfileMatch.from_key(match.key()) == match and match.key().startswith('{"cpu_arch"')


def pin(scope: str, key: str, version: str, slot: str = "camera") -> Pin:
    return Pin(slot=slot, scope=scope, key=key, model="m", version=version, set_by="t", set_ts=0)  # type: ignore[arg-type]


def rollout(state: str, stage: str, *, promoted: bool = False, baseline: str | None = "1.0") -> dict[str, Any]:
    return {"id": "ro-1", "slot": "camera", "model": "m", "version": "2.0", "baseline_version": baseline,
            "state": state, "stage": stage, "promoted_ts": 5.0 if promoted else None, "shadow_s": 60.0,
            "watch_s": 120.0, "latency_budget_ms": None}


def test_pins_most_specific_first() -> None:
    d = device("j1", site="tunnel")
    pins = [pin("site", "tunnel", "0.1"), pin("device_type", "jetson", "0.3"),
            pin("profile", ProfileMatch(accelerator="cuda").key(), "0.2"), pin("device_type", "pi", "9")]
    assert choose_version(d, "camera", pins, []).version == "0.3"  # type: ignore[union-attr]
    assert choose_version(d, "camera", pins[:1] + pins[2:], []).version == "0.2"  # type: ignore[union-attr]
    assert choose_version(d, "camera", pins[:1], []).version == "0.1"  # type: ignore[union-attr]
    assert choose_version(d, "risk", pins, []) is None
    assert choose_version(device("other", "x86", X86, site="x"), "camera", pins, []) is None


@pytest.mark.parametrize(("state", "stage", "promoted", "version", "given_stage"), [
    ("canary", "canary", False, "2.0", "canary"),
    ("canary", "fleet", False, "1.0", "pinned"),  # not a canary: the baseline until promotion
    ("promoted", "fleet", True, "2.0", "fleet"),
    ("promoted", "canary", True, "2.0", "fleet"),
    ("completed", "fleet", True, "2.0", "fleet"),
    ("paused", "canary", False, "2.0", "canary"),  # paused: devices keep what they were given
    ("paused", "fleet", False, "1.0", "pinned"),
    ("paused", "fleet", True, "2.0", "fleet"),
    ("halted", "canary", True, "1.0", "pinned"),  # halted or rolled back: the baseline for every target
    ("rolled_back", "canary", False, "1.0", "pinned"),
])
def test_desired_version_per_rollout_state(state: str, stage: str, promoted: bool, version: str,
                                           given_stage: str) -> None:
    choice = choose_version(device("j1"), "camera", [], [rollout(state, stage, promoted=promoted)])
    assert choice is not None and (choice.version, choice.stage) == (version, given_stage)
    assert (choice.rollout is not None) == (version == "2.0")


def test_device_pins_win_and_group_pins_fill_in_without_a_baseline() -> None:
    d = device("j1")
    halted = [rollout("halted", "canary", baseline=None)]
    assert choose_version(d, "camera", [pin("site", "a", "0.9")], halted).version == "0.9"  # type: ignore[union-attr]
    assert choose_version(d, "camera", [], halted) is None
    held = [pin("device", "j1", "0.5")]
    assert choose_version(d, "camera", held, [rollout("promoted", "fleet", promoted=True)]).version == "0.5"  # type: ignore[union-attr]

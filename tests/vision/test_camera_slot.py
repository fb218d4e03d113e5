"""CameraSlot over real camera workers: all-or-nothing switch, crash-loop rollback within seconds, latency watch."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from edge_runtime.updates.camera_slot import CameraSlot
from edge_runtime.updates.slots import Health, SlotError
from edge_runtime.vision.supervisor import VisionSupervisor
from models.package import Manifest
from tests.e2e.harness import eventually

from .slot_support import Packages, build_packages, frames, running, settings

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, default_package: Path) -> Packages:
    return build_packages(default_package, tmp_path_factory.mktemp("slot-packages"))


def test_input_mismatch_names_what_the_cameras_cannot_feed(tmp_path: Path, default_package: Path) -> None:
    slot = CameraSlot(VisionSupervisor((), settings(), lambda _: None, snapshot_dir=tmp_path))  # not started
    manifest = Manifest.model_validate_json((default_package / "manifest.json").read_bytes())
    assert slot.input_mismatch(manifest) is None

    def edited(**fields: object) -> Manifest:
        return manifest.model_copy(update=fields)

    assert "a risk model" in (slot.input_mismatch(edited(task="risk")) or "")
    assert "4-D image" in (slot.input_mismatch(edited(inputs=(manifest.inputs[0].model_copy(update={"shape": (1, 8)}),)))
                           or "")
    assert "no person label" in (slot.input_mismatch(edited(labels=("no_helmet",))) or "")


def _artifact_sha(package: Path, fmt: str) -> str:
    manifest = json.loads((package / "manifest.json").read_text())
    return next(a["sha256"] for a in manifest["artifacts"] if a["format"] == fmt)


async def test_activate_switches_every_camera_or_none(tmp_path: Path, packages: Packages) -> None:
    supervisor, events = await running(tmp_path, packages.default, "auto", "onnxruntime")
    slot = CameraSlot(supervisor, switch_timeout_s=60)
    try:
        await events.until(lambda e: {f.camera for f in frames(events)} == {"cam0", "cam1"}, 60)
        assert slot.active_package() == packages.default

        ref = await slot.activate(packages.onnx)
        onnx_sha = _artifact_sha(packages.onnx, "onnx")
        assert (ref.version, ref.sha256) == ("2.1.0-onnx", onnx_sha) and slot.active() == ref
        switched = time.time()
        await events.until(lambda e: {f.camera for f in frames(events, after_ts=switched)} == {"cam0", "cam1"}, 30)
        assert all((f.model_version, f.model_sha256) == ("2.1.0-onnx", onnx_sha)
                   for f in frames(events, after_ts=switched))
        await eventually(lambda: slot.performance().inference_p95_ms is not None, 10, "inferences since the switch")
        perf = slot.performance()
        assert perf.inferences >= 1 and perf.alarms == 0  # no alarm_counts passed: camera alarms unknown

        with pytest.raises(SlotError, match="camera cam1: .*every camera kept its model"):
            await slot.activate(packages.tflite)  # cam1 runs ONNX Runtime only: no artifact for it
        kept = time.time()
        await events.until(lambda e: {f.camera for f in frames(events, after_ts=kept)} == {"cam0", "cam1"}, 30)
        await asyncio.sleep(0.5)
        assert {f.model_version for f in frames(events, after_ts=kept + 0.5)} == {"2.1.0-onnx"}
        assert slot.active_package() == packages.onnx and slot.active() == ref
        assert {c: s["model"]["version"] for c, s in supervisor.status().items()} == {"cam0": "2.1.0-onnx",
                                                                                    "cam1": "2.1.0-onnx"}
    finally:
        await supervisor.stop()


async def _health_problem(slot: CameraSlot, since: float, budget: float | None, timeout: float) -> Health:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = slot.health(since, budget)
        if health.problem:
            return health
        await asyncio.sleep(0.2)
    raise AssertionError(f"no health problem within {timeout} s: {slot.health(since, budget)}")


async def test_a_crash_loop_is_seen_and_the_previous_model_is_back_within_seconds(tmp_path: Path,
                                                                                  packages: Packages) -> None:
    supervisor, events = await running(tmp_path, packages.default, restart_initial_s=2.0, restart_max_s=30.0)
    slot = CameraSlot(supervisor)
    try:
        await events.until(lambda e: bool(frames(events)), 60)
        previous, before = slot.active_package(), slot.active()
        assert previous is not None and before is not None
        ref = await slot.activate(packages.crashing)  # it passes the swap's test inference
        since = time.time()
        assert ref.version == "2.5.0-crashing"
        health = await _health_problem(slot, since, None, 30)
        assert health.problem and "crash loop" in health.problem and "do not decode" in health.problem
        assert health.crashes >= 2

        t0 = time.monotonic()
        back = await slot.activate(previous)
        back_ts = time.time()
        await events.until(lambda e: bool(frames(events, after_ts=back_ts)), 20)
        rollback_s = time.monotonic() - t0
        assert back == before and rollback_s < 20, rollback_s  # seconds, not the backoff (4 s next, up to 30)
        assert {f.model_version for f in frames(events, after_ts=back_ts)} == {before.version}
        await asyncio.sleep(1.0)
        assert slot.health(back_ts, None).problem is None and supervisor.watch("cam0").model == previous
    finally:
        await supervisor.stop()


async def test_a_slow_model_is_reported_over_the_latency_budget(tmp_path: Path, packages: Packages) -> None:
    supervisor, events = await running(tmp_path, packages.default)
    slot = CameraSlot(supervisor, min_samples=5)
    try:
        await events.until(lambda e: bool(frames(events)), 60)
        await slot.activate(packages.slow)
        health = await _health_problem(slot, time.time(), 20.0, 30)
        assert health.problem and "over the budget of 20 ms" in health.problem and health.crashes == 0
        assert health.inference_p95_ms is not None and health.inference_p95_ms > 20.0
    finally:
        await supervisor.stop()

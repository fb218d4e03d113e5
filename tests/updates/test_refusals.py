"""What the device refuses, and that the active model keeps running through every refusal."""
from __future__ import annotations

import shutil
from pathlib import Path

from cloud_sync.contract.rollout import UpdateEvent
from tests.sync.conftest import until

from .conftest import Device, Package, archive
from .test_rollout import risk_state


def tampered(package: Package, tmp: Path) -> bytes:
    """v2 with one byte of its ONNX artifact flipped after signing."""
    copy = tmp / "tampered" / package.root.name
    shutil.copytree(package.root, copy)
    onnx = copy / "risk.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    return archive(copy)


async def refused_with(device: Device, body: bytes, version: str = "2.0", **desired: object) -> UpdateEvent:
    """Offer ``body``, wait for its refusal to reach the cloud, check v1 still serves; the event."""
    cloud = device.cloud
    device.offer(body, version, rollout_id="r1", **{"shadow_s": 0.2, "watch_s": 0.3, **desired})
    async with device.run() as (agent, slot):
        await until(lambda: any(e.kind in ("refused", "shadow_failed") for e in cloud.events()), what="refusal")
        polls = cloud.desired_polls
        await until(lambda: cloud.desired_polls >= polls + 3, what="more polls")  # and it is not tried again
        assert slot.activations == ["1.0"] and slot.active().version == "1.0"
        assert risk_state(agent) == "refused"
        assert agent.status()["slots"]["risk"]["reason"]
    (event,) = [e for e in cloud.events() if e.kind in ("refused", "shadow_failed")]
    assert event.model.version == version and event.rollout_id == "r1"
    leftovers = [p for p in device.models_dir.rglob("*") if p.is_file()] if device.models_dir.exists() else []
    assert leftovers == []  # nothing of the refused package stays on the device
    return event


async def test_a_tampered_package_is_refused(device: Device, packages: dict[str, Package], tmp_path: Path) -> None:
    event = await refused_with(device, tampered(packages["v2"], tmp_path))
    assert "risk.onnx does not match its sha256" in event.reason


async def test_a_truncated_package_is_refused(device: Device, packages: dict[str, Package]) -> None:
    body = packages["v2"].archive
    event = await refused_with(device, body[: len(body) // 2])
    assert "unreadable package archive" in event.reason


async def test_a_package_signed_by_an_untrusted_key_is_refused(device: Device, packages: dict[str, Package]) -> None:
    event = await refused_with(device, packages["foreign"].archive, version="2.1")
    assert "signature does not verify" in event.reason


async def test_a_package_that_is_not_what_was_announced_is_refused(device: Device,
                                                                  packages: dict[str, Package]) -> None:
    event = await refused_with(device, packages["v2"].archive, version="3.0")
    assert "the package is risk-test 2.0, the desired state names risk-test 3.0" in event.reason


async def test_a_package_too_large_for_the_memory_left_is_refused(device: Device,
                                                                 packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1")
    async with device.run(memory_headroom_mb=10**9) as (agent, slot):
        await until(lambda: any(e.kind == "refused" for e in cloud.events()), what="refusal")
        assert slot.active().version == "1.0"
    (event,) = cloud.events()
    assert "incompatible" in event.reason and "headroom" in event.reason


async def test_a_shadow_regression_is_not_activated(device: Device, packages: dict[str, Package]) -> None:
    event = await refused_with(device, packages["bad"].archive, version="2.0-bad")
    assert event.kind == "shadow_failed" and "regression in the shadow run" in event.reason


async def test_a_candidate_that_does_not_load_leaves_the_old_model_running(
        device: Device, packages: dict[str, Package]) -> None:
    device.slot_options = {"fail_load": {"2.0"}}
    event = await refused_with(device, packages["v2"].archive, shadow_s=0)
    assert event.kind == "refused" and "did not load" in event.reason


async def test_a_halted_rollout_is_not_started(device: Device, packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1")
    cloud.halted = ["r1"]
    async with device.run() as (agent, slot):
        await until(lambda: cloud.desired_polls >= 3 and len(cloud.reports) >= 2, what="polls and reports")
        assert slot.activations == ["1.0"] and cloud.ranges == []  # not even downloaded
        assert agent.status()["halted"] == ["r1"]
    assert cloud.events() == []


async def test_a_candidate_whose_input_the_slot_cannot_feed_is_refused(
        device: Device, packages: dict[str, Package]) -> None:
    device.slot_options = {"n_features": 7}
    event = await refused_with(device, packages["v2"].archive)
    assert "incompatible: input has 6 features, the scorer feeds 7" in event.reason

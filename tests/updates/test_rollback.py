"""The device undoes a switch by itself: a crash loop, a latency over budget, a crash loop across restarts."""
from __future__ import annotations

import time

from tests.sync.conftest import until

from .conftest import Device, Package
from .test_rollout import risk_state, slot_row

ROLLBACK_TARGET_S = 60.0


async def rolled_back(device: Device, packages: dict[str, Package], **desired: object) -> tuple[str, float]:
    """Offer v2, let it switch in and misbehave; (the reported reason, seconds from the switch to the rollback)."""
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1", **{"shadow_s": 0, "watch_s": 30, **desired})
    async with device.run() as (agent, slot):
        await until(lambda: "2.0" in slot.activations, what="v2 switched in")
        switched = time.monotonic()
        await until(lambda: slot.active().version == "1.0", what="rolled back to v1")
        took = time.monotonic() - switched
        await until(lambda: agent.status()["halted"] == ["r1"], what="rollback reported, the rollout halted")
        assert risk_state(agent) == "rolled_back"
        polls = cloud.desired_polls
        await until(lambda: cloud.desired_polls >= polls + 3, what="more polls")
        assert slot.activations == ["1.0", "2.0", "1.0"]  # not tried again while the cloud still names it
    (event,) = [e for e in cloud.events() if e.kind == "rolled_back"]
    assert event.model.version == "2.0" and event.rollout_id == "r1"
    assert cloud.reports[-1].slots["risk"].reason == event.reason
    return event.reason, took


async def test_a_crash_loop_rolls_back(device: Device, packages: dict[str, Package]) -> None:
    device.slot_options = {"crash": {"2.0"}}
    reason, took = await rolled_back(device, packages)
    assert reason.startswith("crash loop: 3 crashes within 60 s")
    assert took < ROLLBACK_TARGET_S


async def test_latency_over_budget_rolls_back(device: Device, packages: dict[str, Package]) -> None:
    device.slot_options = {"slow_ms": {"2.0": 20.0}}
    reason, took = await rolled_back(device, packages, latency_budget_ms=10.0)
    assert "over the budget of 10 ms" in reason and took < ROLLBACK_TARGET_S


async def test_a_crash_loop_across_restarts_boots_the_previous_model(device: Device,
                                                                    packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1", shadow_s=0, watch_s=120)
    policy = {"rollback": {"boot_loop_boots": 2, "health_every_s": 0.05}}
    async with device.run(crash=True, **policy) as (agent, slot):
        await until(lambda: risk_state(agent) == "watching" and slot.active().version == "2.0", what="watching v2")
    async with device.run(crash=True, **policy) as (agent, slot):  # one unclean start: v2 again
        assert slot.activations == ["2.0"] and agent.status()["booted_previous"] == {}
        await until(lambda: risk_state(agent) == "watching", what="watch resumed")
    async with device.run(**policy) as (agent, slot):  # the second: the previous model boots
        assert slot.activations == ["1.0"]
        assert "crash loop across restarts: 2 unclean starts" in agent.status()["booted_previous"]["risk"]
        await until(lambda: any(e.kind == "rolled_back" for e in cloud.events()), what="rollback reported")
        polls = cloud.desired_polls
        await until(lambda: cloud.desired_polls >= polls + 3, what="more polls")
        assert slot.activations == ["1.0"]
    row = slot_row(device)
    assert row["state"] == "rolled_back" and "crash loop across restarts" in row["reason"]
    async with device.run() as (agent, slot):  # a clean start after a clean stop counts nothing
        assert slot.activations == ["1.0"] and agent.status()["booted_previous"] == {}

"""What survives an outage and a restart: events until the cloud took them, the previous version, the
rollback's reason, and the refusal that keeps a rolled-back version from being tried again."""
from __future__ import annotations

import sqlite3

from tests.sync.conftest import until

from .conftest import Device, Package
from .test_rollout import risk_state, slot_row


def stored_events(device: Device) -> list[str]:
    with sqlite3.connect(device.db_path) as conn:
        return [row[0] for row in conn.execute("SELECT json_extract(event, '$.kind') FROM update_events ORDER BY id")]


async def test_events_survive_an_outage_and_a_restart(device: Device, packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1", shadow_s=0.2, watch_s=0.3)
    async with device.run() as (agent, slot):
        await until(lambda: cloud.ranges, what="download started")
        cloud.down = True  # desired and report answer 503 from now on; the package is already coming
        await until(lambda: risk_state(agent) == "active", what="v2 active")
        failures = agent.status()["reports"]["failures"]
        await until(lambda: agent.status()["reports"]["failures"] > failures, what="a report failing")
        assert agent.status()["pending_events"] == 3
    assert stored_events(device) == ["downloaded", "shadow_passed", "activated"]
    assert cloud.events() == []
    cloud.down = False
    async with device.run() as (agent, slot):
        assert slot.activations == ["2.0"]  # it boots what it switched to
        await until(lambda: len(cloud.events()) == 3, what="events delivered")
        await until(lambda: agent.status()["pending_events"] == 0, what="events acknowledged")
    assert [e.kind for e in cloud.events()] == ["downloaded", "shadow_passed", "activated"]
    assert stored_events(device) == []


async def test_the_previous_version_and_a_rollback_reason_survive_restarts(
        device: Device, packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1", shadow_s=0, watch_s=0.2)
    async with device.run() as (agent, slot):
        await until(lambda: risk_state(agent) == "active", what="v2 active")
    async with device.run() as (agent, slot):
        await until(lambda: risk_state(agent) == "active", what="state loaded")
        status = agent.status()["slots"]["risk"]
        assert slot.activations == ["2.0"] and status["previous"]["version"] == "1.0"
        assert agent.boot_package("risk").is_dir()
    device.slot_options = {"crash": {"3.0"}}
    device.offer(packages["v3"].archive, "3.0", rollout_id="r2", shadow_s=0, watch_s=30)
    async with device.run() as (agent, slot):
        await until(lambda: risk_state(agent) == "rolled_back", what="v3 rolled back")
        assert slot.active().version == "2.0"
    row = slot_row(device)
    assert row["state"] == "rolled_back" and row["reason"].startswith("crash loop")
    async with device.run() as (agent, slot):
        await until(lambda: risk_state(agent) == "rolled_back", what="state loaded")
        polls = cloud.desired_polls
        await until(lambda: cloud.desired_polls >= polls + 3, what="more polls")
        assert slot.activations == ["2.0"]  # v3 is not tried again while the cloud names it
        assert agent.status()["slots"]["risk"]["reason"].startswith("crash loop")
        assert agent.status()["slots"]["risk"]["previous"] is None


"""The agent's whole way, against the rollout double with real signed packages and a real risk slot:
download, verify, shadow, switch, watch, and what it reports."""
from __future__ import annotations

import sqlite3

from edge_runtime.updates.agent import UpdateAgent
from tests.sync.conftest import until

from .conftest import Device, Package


def risk_state(agent: UpdateAgent) -> str | None:
    return agent.status()["slots"].get("risk", {}).get("state")


def slot_row(device: Device) -> dict[str, object]:
    with sqlite3.connect(device.db_path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM update_slots WHERE slot = 'risk'").fetchone())


async def test_a_good_candidate_is_shadowed_switched_in_watched_and_reported(
        device: Device, packages: dict[str, Package]) -> None:
    cloud = device.cloud
    device.offer(packages["v2"].archive, "2.0", rollout_id="r1", shadow_s=0.3, watch_s=0.5)
    async with device.run() as (agent, slot):
        await until(lambda: risk_state(agent) == "active" and slot.activations[-1] == "2.0",
                    what="v2 active after its watch")
        await until(lambda: {e.kind for e in cloud.events()} >= {"shadow_passed", "activated"}, what="events")
        status = agent.status()
    assert slot.activations == ["1.0", "2.0"]
    assert status["slots"]["risk"]["previous"]["version"] == "1.0"
    activated = next(e for e in cloud.events() if e.kind == "activated")
    assert (activated.model.version, activated.rollout_id) == ("2.0", "r1") and activated.model.sha256
    report = cloud.reports[-1].slots["risk"]
    assert report.active.version == "2.0" and report.previous.version == "1.0"
    assert report.shadow is not None and report.shadow.compared > 0 and report.shadow.agreement >= 0.9
    assert report.performance.inferences > 0
    assert [e.kind for e in cloud.events()].count("activated") == 1  # acknowledged events are not sent again
    assert slot_row(device)["state"] == "active"

"""The real daemon with sync enabled: its agent uploads what the site raises, and a crash of the agent
(SIGKILL) never touches the alarm path; /readyz shows the uplink without gating on it."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from edge_runtime.daemon import EdgeDaemon
from tests.broker import Mosquitto, Subscriber
from tests.e2e.harness import SimSite, is_alert, topic

from .cloud_double import CloudDouble
from .conftest import sync_settings, until


async def test_an_agent_crash_never_touches_alarms_and_readiness_does_not_gate_on_the_cloud(
    tmp_path: Path, mosquitto: Mosquitto, cloud: CloudDouble, credential_file: Path
) -> None:
    site = SimSite(tmp_path, mosquitto.port, "h2s_leak.yaml")
    config = await site.start()
    config = config.model_copy(update={"sync": sync_settings(cloud.url, credential_file), "device_id": "edge-1"})
    daemon = EdgeDaemon(config)
    await daemon.start()
    try:
        sync = daemon.sync
        assert sync is not None
        await until(lambda: sync.state is not None and cloud.heartbeats, timeout=20.0, what="the agent reporting")
        first = sync.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            site.play()
            alert = await sub.wait_for_async(is_alert("w03", "gas"), timeout=20)  # alarms go on meanwhile
        alarm_id = json.loads(alert.payload)["alarm_id"]
        await until(lambda: sync.restarts == 1 and sync.alive, timeout=20.0, what="the agent restarted")
        await until(lambda: alarm_id in {r["alarm_id"] for r in cloud.rows["alarms"].values()}, timeout=20.0,
                    what="the alarm in the cloud")
        cloud.down = True  # the uplink goes away: degraded, still ready as far as sync goes
        await until(lambda: daemon.readiness()["sync"]["degraded"], timeout=10.0, what="sync degraded")
        report = daemon.readiness()
        assert report["sync"]["enabled"] and report["sync"]["restarts"] == 1
        assert "sync" not in report["checks"]
        assert cloud.heartbeats[-1]["alarms"]["open"] >= 1 and cloud.heartbeats[-1]["software"]
        assert cloud.heartbeats[-1]["roster"] == daemon.config.roster() and daemon.config.roster()["w03"]
    finally:
        await daemon.stop()
        await site.stop()
    assert not sync.alive and sync.pid != first
    # (rows the killed agent had sent after its last committed mark went again, in ranges cut afresh from
    # live data: the cloud keeps one row per edge id, as the double does)

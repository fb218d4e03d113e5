"""/metrics: the metric families on an unstarted daemon (fake clock, real bus, fusion and alarm
engine), then on the running daemon with a session or Prometheus' bearer token."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import aiohttp
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate, Priority
from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.metrics import SiteMetrics
from edge_runtime.dashboard.roles import Role
from edge_runtime.demo import demo_site_data
from edge_runtime.fusion.conditions import worker_subject
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.readings import Gas, GasSample, HeartRate, Observation
from tests.broker import Mosquitto
from tests.dashboard.harness import FakeClock, T0, dashboard_site, eventually_async, signed_in

TOKEN = "prometheus-scrape-token"
FAMILIES = {
    "siteguard_info", "siteguard_readings", "siteguard_decode_errors", "siteguard_alarms", "siteguard_alarm_transitions",
    "siteguard_alarm_latency_seconds", "siteguard_sqlite_write_seconds", "siteguard_sqlite_write_max_seconds",
    "siteguard_store_queue_depth", "siteguard_live_clients", "siteguard_queue_depth", "siteguard_queue_capacity",
    "siteguard_queue_high_water", "siteguard_queue_enqueued", "siteguard_queue_shed", "siteguard_load_shedding",
    "siteguard_telemetry_messages", "siteguard_telemetry_dropped",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def gas_update(ts: float, active: bool = True, kind: AlarmKind = AlarmKind.GAS_HIGH) -> ConditionUpdate:
    return ConditionUpdate(worker_subject("w03"), f"gas:{kind.value}", kind, active, Priority.HIGH, "H2S", ts,
                           value=25, threshold=20, direction="high")


def test_bus_counts_state_and_alarm_latency_on_an_unstarted_daemon() -> None:
    clock = FakeClock()
    daemon = EdgeDaemon(parse_config(demo_site_data()), clock=clock)
    metrics = SiteMetrics(daemon)  # subscribes after the daemon's own wiring, as the dashboard does
    assert metrics.handle.required_role is Role.VIEWER and metrics.handle.metrics_token_ok is True

    daemon.bus.publish(Observation("pd-03", GasSample(Gas.H2S, 3.0, "ppm"), T0))
    daemon.bus.publish(Observation("wb-03", HeartRate(bpm=80), T0))
    clock.now = T0 + 0.004  # the engine's clock when the reading's update arrives: 4 ms later
    daemon.bus.publish(gas_update(T0))
    daemon.bus.publish(gas_update(T0 + 0.001))  # the same condition again: no transition, nothing observed
    clock.now = T0 + 1
    drift = gas_update(T0 + 1, kind=AlarmKind.GAS_DRIFT)  # raised by its on-delay timer later: no latency
    daemon.bus.publish(drift)
    clock.now = T0 + 30
    daemon.alarms.tick(T0 + 30)
    daemon.bus.publish(gas_update(T0 + 30.5, kind=AlarmKind.GAS_DRIFT))  # the next reading, after the raise

    got = samples(metrics.scrape(live_clients=3).decode())
    assert got[("siteguard_readings_total", (("kind", "gas"),))] == 1
    assert got[("siteguard_readings_total", (("kind", "hr"),))] == 1
    assert got[("siteguard_alarm_transitions_total", (("cause", "raised"),))] == 2
    assert got[("siteguard_alarm_latency_seconds_count", ())] == 1
    assert got[("siteguard_alarm_latency_seconds_sum", ())] == pytest.approx(0.004, abs=1e-6)
    assert got[("siteguard_alarm_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("siteguard_alarm_latency_seconds_bucket", (("le", "0.002"),))] == 0
    assert got[("siteguard_alarms", (("priority", "high"), ("state", "active_unacknowledged")))] == 2
    assert got[("siteguard_alarms", (("priority", "critical"), ("state", "shelved")))] == 0
    assert got[("siteguard_live_clients", ())] == 3
    assert got[("siteguard_store_queue_depth", ())] == daemon.store.stats.queue_depth > 0  # not started: queued
    assert got[("siteguard_info", (("device", "edge-1"), ("http", ""), ("site", "demo-site"), ("version",
                                                                                               _version())))] == 1
    metrics.close()  # after shutdown a scrape reads nothing of the stopped daemon
    assert not any(name.startswith("siteguard_alarms") for name, _ in samples(metrics.scrape(0).decode()))


def _version() -> str:
    from edge_runtime import __version__

    return __version__


async def test_metrics_for_a_viewer_and_for_prometheus_token(tmp_path: Path, mosquitto: Mosquitto) -> None:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True,
                              metrics_token_sha256=digest) as (_site, _daemon, url):
        async with signed_in(url, "vera") as client:
            async def after_an_alarm() -> str | None:
                status, body = await client.get("/metrics")
                assert status == 200
                text = body.decode()
                got = samples(text)
                alarmed = got.get(("siteguard_alarm_latency_seconds_count", ()), 0) > 0
                # the store process reports its counters every ~0.25 s
                committed = got.get(("siteguard_sqlite_write_seconds_count", ()), 0) > 0
                return text if alarmed and committed else None

            text = await eventually_async(after_an_alarm, 30, "an alarm raised by a reading, committed")
            assert FAMILIES <= {f.name for f in text_string_to_metric_families(text)}
            got = samples(text)
            assert got[("siteguard_readings_total", (("kind", "gas"),))] > 0
            assert any(name == "siteguard_decode_errors_total" for name, _ in got)
            assert got[("siteguard_sqlite_write_seconds_count", ())] > 0
            queues = {dict(labels)["queue"]: dict(labels)["kind"] for name, labels in got
                      if name == "siteguard_queue_depth"}
            assert {"mqtt.inbox", "telemetry.routine", "telemetry.events", "store.readings",
                    "store.priority"} <= queues.keys()
            assert got[("siteguard_queue_enqueued_total", (("kind", "bulk"), ("queue", "store.readings")))] > 0
            assert all(got[("siteguard_queue_shed_total", (("kind", "events"), ("queue", q)))] == 0
                       for q, kind in queues.items() if kind == "events")
            assert got[("siteguard_load_shedding", ())] == 0

        async with aiohttp.ClientSession() as prometheus:
            async with prometheus.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=")
                assert "siteguard_readings_total" in await response.text()
            async with prometheus.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 401
            async with prometheus.get(f"{url}/metrics") as response:
                assert response.status == 401


async def test_telemetry_of_unknown_wearables_is_dropped_counted_and_never_stored(tmp_path: Path,
                                                                                mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port) as (_site, daemon, url):
        topics = Topics(daemon.config.site.id)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
        pub.connect("127.0.0.1", mosquitto.port)
        pub.loop_start()
        try:
            async with signed_in(url, "vera") as client:
                async def dropped() -> float | None:
                    for i in range(20):
                        pub.publish(topics.wearable_telemetry(f"ghost-{i}"), b'{"hr": 80, "panic": true}')
                    _status, body = await client.get("/metrics")
                    n = samples(body.decode()).get(("siteguard_telemetry_dropped_total",
                                                    (("reason", "unknown_wearable"),)), 0)
                    return n if n >= 100 else None

                await eventually_async(dropped, 30, "unknown wearables' telemetry counted as dropped")
        finally:
            pub.loop_stop()
            pub.disconnect()
        assert daemon.telemetry.health()["unknown_wearable"] >= 100
        assert not [a for a in daemon.alarms.active() if "ghost" in repr(a.subject)]  # no panic for a non-worker
        assert daemon.store.flush(10)
    with sqlite3.connect(daemon.config.storage.path) as db:
        assert db.execute("SELECT count(*) FROM readings WHERE device LIKE 'ghost-%'").fetchone() == (0,)

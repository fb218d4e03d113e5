"""End to end on real parts: emulated firmware on ptys -> daemon -> real Mosquitto."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from edge_runtime.alarms.model import AlarmState
from edge_runtime.demo import CONTROL_ROOM
from edge_runtime.store.history_queries import read_once
from edge_runtime.store.labels import current_labels
from tests.broker import Mosquitto, Subscriber
from tests.e2e.harness import (
    eventually,
    is_alarm_record,
    is_alert,
    running_site,
    siren,
    topic,
)


async def test_h2s_leak_alerts_workers_and_sounds_zone_siren(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
            site.play()
            # the entrants' portables see the gas: each worker is alerted on their wearable topic
            for worker in ("w03", "w04"):
                alert = await sub.wait_for_async(is_alert(worker, "gas"), timeout=20)
                body = json.loads(alert.payload)
                assert body["state"] == AlarmState.UNACK.value and body["alarm_id"]
            on = await sub.wait_for_async(siren("tank-2", "on"), timeout=20)
            assert on.retain or on.qos == 1
            # two fixed heads over the set point in one zone: evacuate, critical
            evac = await sub.wait_for_async(is_alarm_record(lambda r: r["kind"] == "zone_evacuate"), timeout=20)
            assert json.loads(evac.payload)["priority"] == "critical"
            # the serial siren controller got the same order
            assert site.sim.controller is not None
            await eventually(lambda: site.sim.controller.siren_on("tank-2"), 5, "controller siren on")


async def test_man_down_with_abnormal_hr_is_highest_priority(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with running_site(tmp_path, mosquitto.port, "man_down.yaml") as (site, daemon):
            site.play()
            pre = await sub.wait_for_async(
                lambda m: is_alert("w07")(m) and json.loads(m.payload).get("state") == "pre_alarm", timeout=20
            )
            assert pre
            record = await sub.wait_for_async(
                is_alarm_record(lambda r: r["subject"] == "worker:w07" and r["kind"] == "man_down"), timeout=30
            )
            assert json.loads(record.payload)["priority"] == "critical"
            # it is the same alarm as the no-motion one, escalated — one event, one alarm
            man_down_kinds = {"no_motion", "fall", "man_down"}
            ids = {json.loads(m.payload)["alarm_id"] for m in sub.messages
                   if is_alert("w07", "")(m) and json.loads(m.payload).get("kind") in man_down_kinds
                   and json.loads(m.payload).get("alarm_id")}  # pre-alarms carry no alarm id
            assert len(ids) == 1, ids


async def test_ack_and_verdict_over_mqtt_are_stored(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
            site.play()
            alert = await sub.wait_for_async(is_alert("w03", "gas"), timeout=20)
            alarm_id = json.loads(alert.payload)["alarm_id"]
            # an account that is not a console, and the old topic without one: refused, nothing recorded
            sub.publish(topic("alarms", alarm_id, "ack", "wearable-gateway"), b'{"verdict": "false_alarm"}')
            sub.publish(topic("alarms", alarm_id, "ack"), b'{"by": "supervisor Ana", "verdict": "false_alarm"}')
            # the operator console may acknowledge but not label: its verdict is refused
            sub.publish(topic("alarms", alarm_id, "ack", "gatehouse"), b'{"verdict": "false_alarm"}')
            await eventually(lambda: daemon.refused_acks == 2, 10, "two refusals")
            sub.publish(topic("alarms", alarm_id, "ack", CONTROL_ROOM),
                        json.dumps({"by": "forged name", "note": "crew evacuated", "verdict": "confirmed"}).encode())
            await sub.wait_for_async(
                lambda m: m.topic == topic("alarms", alarm_id) and m.payload
                and json.loads(m.payload)["verdict"] == "confirmed", timeout=10)
            acked = await sub.wait_for_async(
                lambda m: m.topic == topic("alarms", alarm_id) and m.payload
                and json.loads(m.payload)["acked_by"] == "gatehouse", timeout=10)
            assert json.loads(acked.payload)["state"] in (AlarmState.ACKED.value, AlarmState.NORMAL.value)
            assert json.loads(acked.payload)["acked_via"] == "mqtt"
            assert daemon.store.flush(5)
            db = sqlite3.connect(site.config.storage.path)
            verdicts = db.execute("SELECT verdict, by, channel FROM verdicts WHERE alarm_id=?", (alarm_id,)).fetchall()
            assert verdicts == [("confirmed", CONTROL_ROOM, "mqtt")]  # the account in the topic, not the payload's "by"
            stored = db.execute("SELECT cause, by, channel FROM transitions WHERE alarm_id=? ORDER BY id",
                                (alarm_id,)).fetchall()
            assert stored[0] == ("raised", None, "system") and ("acknowledged", "gatehouse", "mqtt") in stored
            [label] = [r for r in read_once(site.config.storage.path, current_labels) if r["alarm_id"] == alarm_id]
            assert (label["verdict"], label["by"], label["channel"]) == ("confirmed", CONTROL_ROOM, "mqtt")


async def test_garbage_on_a_port_is_counted_and_dropped(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
        site.play()
        await eventually(lambda: all(h.readings > 0 for h in daemon.sensors.health() if h.protocol != "modbus"),
                         15, "every port delivering readings")
        port = site.sim.ports["gateway"]
        health = next(h for h in daemon.sensors.health() if h.port == str(port.path))
        before = health.readings
        port.write(b"\x00\x13\xff garbage \x00" + bytes(range(256)) + b"\x00\x01\x02\x00")
        await eventually(lambda: health.as_dict()["frames_rejected"] > 0, 5, "rejected frames counted")
        await eventually(lambda: health.readings > before + 5, 10, "readings continue after garbage")


async def test_health_endpoints_follow_broker_and_ports(tmp_path: Path, mosquitto: Mosquitto) -> None:
    import aiohttp

    async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
        site.play()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{daemon.http.url}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "alive"

            async def ready() -> tuple[int, dict]:
                async with http.get(f"{daemon.http.url}/readyz") as resp:
                    return resp.status, await resp.json()

            for _ in range(100):
                status, body = await ready()
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, body
            assert {p["protocol"] for p in body["ports"]} == {"nmea", "winsen", "gateway", "modbus"}
            mosquitto.stop()
            await eventually(lambda: not daemon.link.connected.is_set(), 10, "link notices the outage")
            status, body = await ready()
            assert status == 503 and body["checks"]["broker"] is False
            mosquitto.start()

"""The telemetry ingest child process against a real Mosquitto: events at once, routine coalesced."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.config.devices import MqttSettings, StorageSettings
from edge_runtime.config.people import ManDownSettings
from edge_runtime.mqtt.topics import Topics
from edge_runtime.store import Store
from edge_runtime.telemetry.ingest_process import IngestSettings
from edge_runtime.telemetry.supervisor import TelemetryIngestSupervisor
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.readings import Battery, CheckIn, Contact, HeartRate, Motion, Observation, PanicButton
from tests.broker import Mosquitto

SITE = "ingest-test"
TOPICS = Topics(SITE)


WEARABLES = frozenset({"wb-ping", "wb1", "wb2", "wb3", *(f"wb{w:02d}" for w in range(20))})


def _settings(port: int) -> IngestSettings:
    return IngestSettings(MqttSettings(port=port, telemetry_interval_s=0.005), SITE, f"ingest-test-{port}",
                          ManDownSettings(), WEARABLES)


class _Publisher:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wearables")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, wearable: str, **fields: object) -> None:
        self.client.publish(TOPICS.wearable_telemetry(wearable), json.dumps(fields).encode(), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _connected(sup: TelemetryIngestSupervisor, pub: _Publisher, seen: list[Observation]) -> None:
    """The child subscribes asynchronously: ping until a reading comes back."""
    deadline = time.monotonic() + 20
    while not seen and time.monotonic() < deadline:
        pub.send("wb-ping", battery=50)
        await asyncio.sleep(0.1)
    assert seen, f"ingest process never forwarded telemetry (alive={sup.alive})"
    seen.clear()


async def test_events_and_routine_reach_fusion_with_the_receive_time(mosquitto: Mosquitto) -> None:
    seen: list[Observation] = []
    sup = TelemetryIngestSupervisor(_settings(mosquitto.port), seen.append)
    pub = _Publisher(mosquitto.port)
    await sup.start()
    try:
        await _connected(sup, pub, seen)
        t0 = time.time()
        hr = encode_hrm(HeartRate(92, Contact.DETECTED)).hex()
        pub.send("wb1", hr_raw=hr, accel=[[0.0, 0.0, 1.0]] * 25, battery=80.0)
        pub.send("wb2", panic=True)
        pub.send("wb2", cancel=True)
        pub.send("wb3", checkin=True)
        await _until(lambda: len([o for o in seen if o.device != "wb-ping"]) >= 6, 5, "six readings")
        readings = {(o.device, type(o.reading)) for o in seen}
        assert {("wb1", HeartRate), ("wb1", Motion), ("wb1", Battery), ("wb2", PanicButton), ("wb3", CheckIn)} <= readings
        presses = [o.reading for o in seen if o.device == "wb2"]
        assert presses == [PanicButton(True), PanicButton(False)]  # in order
        hr_obs = next(o for o in seen if isinstance(o.reading, HeartRate))
        assert hr_obs.reading == HeartRate(92, Contact.DETECTED)
        assert t0 - 0.5 <= hr_obs.ts <= time.time()
        # 25 still samples reduce to the first and the last
        assert len([o for o in seen if isinstance(o.reading, Motion)]) == 2
    finally:
        await sup.stop()
        pub.close()
    assert not sup.alive


async def test_a_busy_alarm_process_gets_the_newest_values_and_every_event(mosquitto: Mosquitto) -> None:
    seen: list[Observation] = []

    def slow(obs: Observation) -> None:  # an alarm process that needs 1 ms per reading
        seen.append(obs)
        time.sleep(0.001)

    sup = TelemetryIngestSupervisor(_settings(mosquitto.port), slow)
    pub = _Publisher(mosquitto.port)
    await sup.start()
    try:
        await _connected(sup, pub, seen)
        rounds = 100
        for r in range(rounds):
            for w in range(20):
                pub.send(f"wb{w:02d}", hr=60 + r, battery=100.0 - r / 10, accel=[0.3, 0.1, 1.3])
            if r % 10 == 0:
                pub.send("wb00", panic=True)
        await _until(lambda: sup.stats.get("messages", 0) >= rounds * 20 + 10, 15, "every message parsed")
        await _until(lambda: sup.queues()[0].depth == 0, 10, "the last batch")
        last_hr = {o.device: o.reading.bpm for o in seen if isinstance(o.reading, HeartRate)}
        assert last_hr == {f"wb{w:02d}": 60 + rounds - 1 for w in range(20)}  # newest wins
        routine, events, _store = sup.queues()
        assert routine.shed > 0 and routine.kind == "bulk"
        assert routine.high_water <= 21  # one slot per wearable, whatever the rate
        assert events.enqueued == 10 and events.shed == 0
        assert len([o for o in seen if o.reading == PanicButton(True)]) == 10  # never shed
        delivered_hr = len([o for o in seen if isinstance(o.reading, HeartRate)])
        assert delivered_hr + routine.shed - sup.stats["battery_shed"] == rounds * 20
    finally:
        await sup.stop()
        pub.close()


async def test_a_dead_ingest_process_is_restarted(mosquitto: Mosquitto) -> None:
    seen: list[Observation] = []
    sup = TelemetryIngestSupervisor(_settings(mosquitto.port), seen.append)
    pub = _Publisher(mosquitto.port)
    await sup.start()
    try:
        await _connected(sup, pub, seen)
        assert sup._proc is not None
        sup._proc.kill()
        await _until(lambda: sup.restarts == 1 and sup.alive, 10, "a restart")
        await _connected(sup, pub, seen)
    finally:
        await sup.stop()
        pub.close()


async def test_every_message_is_stored_by_the_store_process(mosquitto: Mosquitto, tmp_path: Path) -> None:
    store = Store(StorageSettings(path=tmp_path / "edge.db"))
    store.open()
    seen: list[Observation] = []
    sup = TelemetryIngestSupervisor(_settings(mosquitto.port), seen.append)
    pub = _Publisher(mosquitto.port)
    await sup.start(store.producer_address)
    try:
        await _connected(sup, pub, seen)
        for i in range(50):
            pub.send("wb1", hr=70 + i, accel=[[0.0, 0.0, 1.0]] * 4, battery=90.0, panic=i == 10)
        # 50 x (hr + 4 samples + battery) + one panic, whatever was coalesced on the way to fusion
        await _until(lambda: store.readings_count() >= 50 * 6 + 1 + 1, 15, "every reading stored")
        with sqlite3.connect(tmp_path / "edge.db") as db:
            kinds = dict(db.execute("SELECT kind, count(*) FROM readings WHERE device = 'wb1' GROUP BY kind"))
        assert kinds == {"hr": 50, "motion": 200, "battery": 50, "panic": 1}
        assert sup.queues()[2].name == "store.telemetry" and sup.queues()[2].shed == 0
    finally:
        await sup.stop()
        pub.close()
        store.close()

"""Outages on the real parts: SIGKILL of the daemon, a broker outage, a pulled USB adapter."""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

from edge_runtime.alarms.model import AlarmState
from tests.broker import Mosquitto, Subscriber
from tests.e2e.harness import (
    DaemonProcess,
    SimSite,
    eventually,
    is_alarm_record,
    running_site,
    topic,
)

OUTAGE_S = float(os.environ.get("SITEGUARD_OUTAGE_S", "30"))


def _open_alarms(db_path: Path) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute("SELECT alarm_id, kind, state FROM alarms WHERE state != 'normal'").fetchall()
    finally:
        db.close()
    return {a: (k, s) for a, k, s in rows}


def _fusion_state(db_path: Path) -> dict[str, object] | None:
    from edge_runtime.config.devices import StorageSettings
    from edge_runtime.store import Store

    store = Store(StorageSettings(path=db_path))
    store.open()
    try:
        return store.load_fusion_state()
    finally:
        store.close()


async def test_sigkill_mid_run_loses_no_alarm(tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = SimSite(tmp_path, mosquitto.port, "h2s_leak.yaml")
    config = await site.start()
    db_path = Path(config.storage.path)
    daemon = DaemonProcess(site.write_config(), tmp_path / "daemon.log")
    try:
        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            daemon.start()
            site.play()
            # every alarm announced on the broker before the kill ...
            await sub.wait_for_async(is_alarm_record(lambda r: r["kind"] == "zone_evacuate"), timeout=30)
            await asyncio.sleep(12)  # past a fusion-state snapshot, with exposure accumulating
            announced = {json.loads(m.payload)["alarm_id"] for m in sub.messages
                         if is_alarm_record(lambda r: True)(m)}
            latched_before = {a for a, (k, s) in _open_alarms(db_path).items() if k in ("gas_high", "zone_gas", "zone_evacuate")}
            daemon.kill()
        # ... is in SQLite after the SIGKILL
        stored = _open_alarms(db_path)
        assert announced <= set(stored), f"announced but not stored: {announced - set(stored)}\n{daemon.log()}"
        exposure_before = _fusion_state(db_path)
        assert exposure_before, "fusion state (STEL/TWA accumulators) was persisted"

        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            daemon.start()
            # latched alarms are still active and re-announced after the restart
            for alarm_id in latched_before:
                record = await sub.wait_for_async(
                    lambda m, a=alarm_id: m.topic == topic("alarms", a) and bool(m.payload), timeout=30)
                assert json.loads(record.payload)["state"] != AlarmState.NORMAL.value
            await sub.wait_for_async(lambda m: m.topic.endswith("/status") and b"online" in m.payload, 30)
            await asyncio.sleep(11)  # the restarted daemon saves its own snapshot
            assert set(stored) <= set(_open_alarms(db_path)) | _closed_since_restart(db_path)
            _assert_exposure_continues(exposure_before, _fusion_state(db_path))
        assert daemon.terminate() == 0, daemon.log()
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.kill()
        await site.stop()


def _closed_since_restart(db_path: Path) -> set[str]:
    db = sqlite3.connect(db_path)
    try:
        return {r[0] for r in db.execute("SELECT DISTINCT alarm_id FROM transitions WHERE cause='closed'")}
    finally:
        db.close()


def _assert_exposure_continues(before: dict | None, after: dict | None, worker: str = "w03") -> None:
    """The entrant's H2S accumulator after the restart extends the one before the kill."""
    assert before and after
    b, a = before["exposure"][worker]["H2S"], after["exposure"][worker]["H2S"]
    assert a["values"][: len(b["values"])] == b["values"], "completed minutes kept"
    assert b["n"] or b["values"], "exposure had accumulated before the kill"
    assert a["shift_sum"] >= b["shift_sum"], "TWA (shift sum) only rises"
    assert a["last_ts"] > b["last_ts"], "readings after the restart are accumulated"
    if a["minute"] == b["minute"]:
        assert a["n"] > b["n"], "the open minute keeps its samples from before the kill"


async def test_broker_outage_delivers_alarms_after_it_returns(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
        await eventually(lambda: daemon.link.state.value == "connected", 10, "daemon connected")
        mosquitto.stop()
        site.play()  # the leak starts at t=3 s, while the broker is down
        await asyncio.sleep(OUTAGE_S)
        open_during_outage = {a.alarm_id for a in daemon.alarms.active()}
        assert open_during_outage, "alarms were raised locally during the outage"
        mosquitto.start()
        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            # retained alarm records for every alarm raised while the broker was away
            for alarm_id in open_during_outage:
                await sub.wait_for_async(lambda m, a=alarm_id: m.topic == topic("alarms", a), timeout=30)
            await sub.wait_for_async(lambda m: m.topic == topic("sirens", "tank-2", "set")
                                     and json.loads(m.payload)["state"] == "on", timeout=10)


async def test_pulled_usb_adapter_resumes_without_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running_site(tmp_path, mosquitto.port, "h2s_leak.yaml") as (site, daemon):
        site.play()
        port = site.sim.ports["gateway"]
        health = next(h for h in daemon.sensors.health() if h.port == str(port.path))
        await eventually(lambda: health.readings > 10, 15, "gateway readings")
        port.unplug()
        await eventually(lambda: health.state != "open", 10, "port seen as gone")
        await asyncio.sleep(1.0)
        port.replug()
        before = health.readings
        await eventually(lambda: health.state == "open" and health.readings > before + 10, 20, "reading resumes")

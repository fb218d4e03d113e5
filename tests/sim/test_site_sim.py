"""The whole simulated site on real ptys and a real Mosquitto, as the demo and end-to-end tests use it."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import pytest

from edge_runtime.config import SiteConfig, parse_config
from edge_runtime.config.devices import SerialPort
from edge_runtime.sim.scenario import Scenario
from edge_runtime.sim.site_sim import SiteSimulator
from firmware_bridge.errors import TransportError
from firmware_bridge.modbus_poller import ModbusPoller
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import Gas, GasSample, GpsFix
from tests.broker import Mosquitto, Subscriber, free_port

from .conftest import demo_site_data

SPEED = 20.0
RUN_S = 24.0  # scenario seconds: past the demo's geofence entry, 1.2 s of wall time


def _read(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def _devices(port: SerialPort) -> set[str]:
    return set(port.gateway_devices.values()) if port.protocol == "gateway" else {port.device or ""}


async def test_simulator_feeds_every_device_of_the_demo_site(
    demo_site: SiteConfig, demo_scenario: Scenario, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    pty_dir = tmp_path / "pty"
    sim = SiteSimulator(
        demo_site,
        demo_scenario,
        pty_dir=pty_dir,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        speed=SPEED,
        seed=1,
    )
    with Subscriber(mosquitto.host, mosquitto.port, ["siteguard/demo-site/wearables/+/telemetry"], qos=0) as sub:
        await sim.start()
        try:
            ports = {p.protocol: p for p in sim.serial_ports()}
            # routing: one direct NMEA GPS, one direct Winsen detector, the rest via the gateway, fixed via Modbus
            assert set(ports) == {"nmea", "winsen", "gateway", "modbus"}
            assert ports["nmea"].device == "gps-01" and ports["winsen"].device == "pd-01"
            tags = {w.gps for w in demo_site.workers} | {d.id for d in demo_site.detectors if d.kind == "portable"}
            assert set(ports["gateway"].gateway_devices.values()) == tags - {"gps-01", "pd-01"}
            assert {m.detector for m in ports["modbus"].modbus} == {
                d.id for d in demo_site.detectors if d.kind == "fixed"
            }
            # the daemon's site file is the demo site plus what the simulator says
            controller = sim.controller_settings()
            assert controller is not None and Path(controller.port).exists()
            daemon_config = parse_config(
                {
                    **demo_site_data(),
                    "serial": [p.model_dump(mode="json") for p in sim.serial_ports()],
                    "controller": controller.model_dump(mode="json"),
                }
            )
            assert len(daemon_config.serial) == 4

            fds = {
                name: os.open(p.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
                for name, p in ports.items()
                if name != "modbus"
            }
            fixed: dict[str, list[GasSample]] = {}
            poller = ModbusPoller(ports["modbus"].port, 9600, ports["modbus"].modbus, fixed.__setitem__)
            poll_task = asyncio.create_task(poller.run())
            try:
                await sim.run(RUN_S)
            finally:
                poller.stop()
                await asyncio.gather(poll_task, return_exceptions=True)
            seen: dict[str, set[str]] = defaultdict(set)
            for name, fd in fds.items():
                decoder = StreamDecoder(name)
                for d in decoder.feed(_read(fd)):
                    device = ports[name].device if d.address is None else ports[name].gateway_devices[d.address]
                    seen[name].add(f"{device}:{type(d.reading).__name__}")
                os.close(fd)
                assert decoder.stats.frames_rejected == 0, name
            for name in fds:
                assert {s.split(":")[0] for s in seen[name]} == _devices(ports[name]), name
            assert f"gps-03:{GpsFix.__name__}" in seen["gateway"] and f"pd-03:{GasSample.__name__}" in seen["gateway"]
            tank = {s.gas: s.value for s in fixed["fd-tank2-a"]}
            assert tank[Gas.H2S] > 20  # the leak of the scenario reached the fixed head
            # telemetry of every wearable arrived
            await sub.wait_count_async(lambda m: True, len(demo_site.workers) * 10, 5.0)
            wearables = {m.topic.split("/")[3] for m in sub.messages}
            assert wearables == {w.wearable for w in demo_site.workers}
        finally:
            await sim.stop()
    # the events log says what happened when, in order, with wall-clock times
    logged = [(e.t, e.target) for e in sim.events if "entered" not in e.actions]
    assert logged == [(e.at, e.target) for e in demo_scenario.in_order if e.at <= RUN_S]
    assert [e.ts for e in sim.events] == sorted(e.ts for e in sim.events)
    panic = next(e for e in sim.events if e.actions == {"panic": "press"})
    assert panic.target == "worker:w09" and panic.ts == sim.clock.wall(6.0)
    entry = next(e for e in sim.events if e.actions.get("entered") == "elec-room")
    assert entry.target == "worker:w13" and entry.actions["left"] == "yard" and 10 < entry.t < 20
    assert not list(pty_dir.iterdir())  # every pty is gone


async def test_run_without_duration_lasts_until_stop(
    demo_site: SiteConfig, demo_scenario: Scenario, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sim = SiteSimulator(
        demo_site, demo_scenario, pty_dir=tmp_path, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, speed=SPEED
    )
    await sim.start()
    task = asyncio.create_task(sim.run())
    await asyncio.sleep(0.2)
    assert not task.done()
    await sim.stop()
    await asyncio.wait_for(task, 2.0)
    assert sim.events  # it played the first events


async def test_start_fails_cleanly_without_a_broker(
    demo_site: SiteConfig, demo_scenario: Scenario, tmp_path: Path
) -> None:
    sim = SiteSimulator(demo_site, demo_scenario, pty_dir=tmp_path, mqtt_host="127.0.0.1", mqtt_port=free_port())
    with pytest.raises(TransportError, match="cannot reach MQTT"):
        await sim.start()
    assert not list(tmp_path.iterdir())  # the ptys it had made are gone

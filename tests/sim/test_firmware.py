"""Every emulator writes real bytes that the edge's own decoders turn back into the world's readings.

Bytes are read from the daemon's side of a real pty (or taken off a real
Mosquitto) and decoded with the production decoders, never with test mirrors.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.config import SiteConfig
from edge_runtime.config.devices import ModbusPoll
from edge_runtime.mqtt.messages import parse_telemetry
from edge_runtime.sim.firmware import (
    FixedDetectorFirmware,
    GatewayFirmware,
    GpsFirmware,
    SerialFirmware,
    WearableGateway,
    WinsenFirmware,
    sensor_spec,
)
from edge_runtime.sim.scenario import parse_scenario
from edge_runtime.sim.timeline import SimClock
from edge_runtime.sim.world import World
from firmware_bridge.codecs.hrm import decode_hrm
from firmware_bridge.modbus_poller import ModbusPoller
from firmware_bridge.protocols import Decoded, StreamDecoder
from firmware_bridge.readings import GasSample, GpsFix, HeartRate, Motion, PanicButton
from firmware_bridge.sim.modbus_slave import EmulatedModbusSlave
from firmware_bridge.sim.pty import PtyPort
from tests.broker import Mosquitto, Subscriber

SPEED = 10.0  # scenario seconds per wall second; a tick more than 50 ms late would be skipped


def _world(site: SiteConfig, *events: dict[str, Any]) -> World:
    return World(site, parse_scenario({"name": "t", "duration_s": 600, "events": list(events)}, site), seed=3)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPort]:
    with PtyPort(tmp_path, "ttyUSB0") as port:
        yield port


def _read_daemon_side(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


async def _run_and_decode(
    port: PtyPort, protocol: str, clock: SimClock, run: Callable[[], Awaitable[None]], sim_s: float
) -> list[Decoded]:
    """Start scenario time, run an emulator for ``sim_s`` scenario seconds, and decode
    what the daemon's side of the pty got."""
    fd = os.open(port.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)

    async def from_zero() -> None:
        clock.start()
        await run()

    try:
        task = asyncio.create_task(from_zero())
        await asyncio.sleep(sim_s / SPEED)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        decoder = StreamDecoder(protocol)
        readings = decoder.feed(_read_daemon_side(fd))
        assert decoder.stats.frames_rejected == 0 and decoder.stats.bytes_discarded == 0
        return readings
    finally:
        os.close(fd)


def _ticks_sent(
    readings: list[Decoded], per_tick: int, matches: Callable[[list[Decoded], float], bool], first: float = 0.0
) -> list[float]:
    """The scenario tick each group of ``per_tick`` readings was sent at.

    Every group must be exactly the world at some tick, ticks increasing; a
    tick the event loop was too late for may be missing (emulators skip it,
    as a device's timer would), which keeps these tests honest under load.
    """
    assert readings and len(readings) % per_tick == 0
    ticks, t = [], first
    for i in range(0, len(readings), per_tick):
        group = readings[i : i + per_tick]
        while not matches(group, t):
            t += 1
            assert t < first + 60, f"{group} is the world at no tick after {ticks}"
        ticks.append(t)
        t += 1
    assert ticks[-1] - ticks[0] <= 1.5 * len(ticks), f"too many ticks skipped: {ticks}"
    return ticks


def _is_fix(world: World, worker: str) -> Callable[[list[Decoded], float], bool]:
    """GGA, RMC and GSA of the tag's fix at ``t`` (positions to NMEA's 1e-5 minute, 2 cm)."""

    def matches(group: list[Decoded], t: float) -> bool:
        s = world.gps(worker, t)
        fixes = [r.reading for r in group]
        assert all(isinstance(f, GpsFix) for f in fixes)
        kinds = [(f.sentence, f.fix_valid) for f in fixes]  # type: ignore[union-attr]
        return kinds == [("GGA", s.fix), ("RMC", s.fix), ("GSA", s.fix)] and all(
            abs(f.lat - s.lat) < 1e-6 and abs(f.lon - s.lon) < 1e-6
            for f in fixes[:2]  # type: ignore[union-attr,operator]
        )

    return matches


def _is_gas(world: World, detector: str) -> Callable[[list[Decoded], float], bool]:
    """One sample per gas of the detector at ``t``, at the module's resolution."""

    def matches(group: list[Decoded], t: float) -> bool:
        expected = world.gas(detector, t)
        samples = [r.reading for r in group]
        assert all(isinstance(s, GasSample) for s in samples)
        return [s.gas for s in samples] == list(expected) and all(  # type: ignore[union-attr]
            abs(s.value - expected[s.gas]) <= 0.51 * 10 ** -sensor_spec(s.gas).decimals
            for s in samples  # type: ignore[union-attr]
        )

    return matches


async def test_gps_firmware_sends_gga_rmc_gsa_per_fix_and_invalid_fixes_when_lost(
    demo_site: SiteConfig, pty: PtyPort
) -> None:
    world = _world(
        demo_site,
        {"at": 0, "worker": "w01", "position": [0, 0], "walk": {"to": [[40, 0]]}},
        {"at": 3, "worker": "w01", "gps": "lost_fix"},
    )
    clock = SimClock(SPEED)
    gps = GpsFirmware(world, "w01", "gps-01", clock)
    readings = await _run_and_decode(pty, "nmea", clock, SerialFirmware(pty, clock, [gps]).run, sim_s=5.5)
    ticks = _ticks_sent(readings, 3, _is_fix(world, "w01"))
    assert len(ticks) >= 4 and min(ticks) < 3 <= max(ticks)  # valid fixes until t=3, invalid from then on
    assert all(r.address is None for r in readings)
    rmc = readings[1].reading  # walking east at 1.3 m/s
    assert isinstance(rmc, GpsFix) and rmc.speed_mps == pytest.approx(1.3, abs=0.01) and rmc.course_deg == 90


async def test_winsen_firmware_sends_one_frame_per_gas_per_second(demo_site: SiteConfig, pty: PtyPort) -> None:
    world = _world(demo_site, {"at": 0, "worker": "w01", "gas": {"CO": {"to": 40, "over_s": 4}}})
    clock = SimClock(SPEED)
    winsen = SerialFirmware(pty, clock, [WinsenFirmware(world, "pd-01")])
    readings = await _run_and_decode(pty, "winsen", clock, winsen.run, sim_s=4.5)
    assert len(_ticks_sent(readings, 3, _is_gas(world, "pd-01"))) >= 3
    assert {r.reading.unit for r in readings if isinstance(r.reading, GasSample)} == {"%vol", "ppm"}


def test_winsen_firmware_refuses_gases_the_uart_cannot_carry(demo_site: SiteConfig) -> None:
    with pytest.raises(ValueError, match="cannot carry LEL"):
        WinsenFirmware(_world(demo_site), "fd-tank2-a")


async def test_gateway_multiplexes_tags_by_address(demo_site: SiteConfig, pty: PtyPort) -> None:
    world = _world(demo_site, {"at": 0, "worker": "w02", "gas": {"H2S": {"to": 12, "over_s": 6}}})
    clock = SimClock(SPEED)
    gateway = GatewayFirmware(
        pty, clock, {7: GpsFirmware(world, "w02", "gps-02", clock), 300: WinsenFirmware(world, "pd-02")}
    )
    readings = await _run_and_decode(pty, "gateway", clock, gateway.run, sim_s=4.9)
    gps = [r for r in readings if r.address == 7]
    gas = [r for r in readings if r.address == 300]
    assert len(gps) + len(gas) == len(readings)
    assert len(_ticks_sent(gps, 3, _is_fix(world, "w02"))) >= 3
    # the second tag runs half a period later, so the two never burst together
    assert len(_ticks_sent(gas, 3, _is_gas(world, "pd-02"), first=0.5)) >= 3


async def test_fixed_detector_firmware_answers_modbus_polls_with_the_zone_gas_and_faults(
    demo_site: SiteConfig, pty: PtyPort
) -> None:
    world = _world(
        demo_site,
        {"at": 0, "zone": "tank-2", "gas": {"H2S": {"to": 25}, "LEL": {"to": 12}}},
        {"at": 0, "detector": "fd-tank2-b", "fault": "sensor_fault"},
    )
    clock = SimClock(SPEED)
    clock.start()
    slave = EmulatedModbusSlave(pty, [1, 2])
    firmwares = [FixedDetectorFirmware(world, d, slave, u, clock) for u, d in ((1, "fd-tank2-a"), (2, "fd-tank2-b"))]
    got: dict[str, list[GasSample]] = {}
    polls = [
        ModbusPoll(unit=1, detector="fd-tank2-a", poll_interval_s=0.1),
        ModbusPoll(unit=2, detector="fd-tank2-b", poll_interval_s=0.1),
    ]
    poller = ModbusPoller(str(pty.path), 9600, polls, lambda detector, samples: got.__setitem__(detector, samples))
    async with slave:
        tasks = [asyncio.create_task(fw.run()) for fw in firmwares] + [asyncio.create_task(poller.run())]
        try:
            for _ in range(100):
                if len(got) == 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            poller.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    a, b = ({s.gas.value: s for s in got[d]} for d in ("fd-tank2-a", "fd-tank2-b"))
    assert list(a) == ["H2S", "O2", "LEL", "CO"]
    assert a["H2S"].value == pytest.approx(25, abs=1) and a["LEL"].value == pytest.approx(12, abs=1)
    assert a["O2"].value == pytest.approx(20.9, abs=0.2) and a["O2"].unit == "%vol" and a["LEL"].unit == "%LEL"
    assert a["H2S"].fault is None and b["H2S"].fault == "sensor_fault"


async def test_wearable_gateway_publishes_telemetry_the_daemon_parses(
    demo_site: SiteConfig, mosquitto: Mosquitto
) -> None:
    world = _world(
        demo_site,
        {"at": 2, "worker": "w09", "panic": "press"},
        {"at": 4, "worker": "w09", "panic": "cancel"},
        {"at": 0, "worker": "w08", "wearable": "offline"},
    )
    clock = SimClock(SPEED)
    gateway = WearableGateway(
        world, clock, {"wb-09": "w09", "wb-08": "w08"}, site="demo-site", host=mosquitto.host, port=mosquitto.port
    )
    topic = "siteguard/demo-site/wearables/wb-09/telemetry"
    with Subscriber(mosquitto.host, mosquitto.port, ["siteguard/demo-site/wearables/+/telemetry"]) as sub:
        await gateway.start()
        clock.start()
        task = asyncio.create_task(gateway.run())
        try:
            messages = await sub.wait_count_async(lambda m: m.topic == topic, 6, 5.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await gateway.stop()
    assert all(m.topic == topic for m in sub.messages)  # wb-08 is offline
    payloads = [json.loads(m.payload) for m in messages]
    # "ts" is the wall-clock time of the tick: 1 Hz, half a period after the serial tags
    ticks = [round((p["ts"] - clock.wall(0)) * SPEED - 0.5) + 0.5 for p in payloads]
    assert ticks == sorted(ticks) and ticks[0] == 0.5
    since = [None, *ticks[:-1]]  # each message covers everything since the one before
    assert [{k: v for k, v in p.items() if k != "ts"} for p in payloads] == [
        {k: v for k, v in gateway.telemetry("w09", t, s).items() if k != "ts"} for t, s in zip(ticks, since)
    ]
    # the SOS button: "panic" while held (2-4 s), one "cancel" for the cancel press, else absent
    held = [True if 2 <= t < 4 else None for t in ticks]
    cancel = [True if (s or t - 1) < 4 <= t else None for t, s in zip(ticks, since)]
    assert [p.get("panic") for p in payloads] == held and True in held
    assert [p.get("cancel") for p in payloads] == cancel and cancel.count(True) == 1
    assert decode_hrm(bytes.fromhex(payloads[0]["hr_raw"])) == world.heart_rate("w09", 0.5)
    assert len(payloads[1]["accel"]) == 20  # every 20 Hz sample of the last second
    observations = parse_telemetry("wb-09", messages[3].payload, ts=0.0)
    kinds = {type(o.reading) for o in observations}
    assert {HeartRate, Motion, PanicButton} <= kinds

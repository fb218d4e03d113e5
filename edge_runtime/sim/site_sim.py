"""A whole simulated site: every device's firmware on real ptys and MQTT, driven by a scenario.

Routing (what a typical site cables how, so every codec on the edge is used):

- each worker's GPS tag and portable detector reach the edge through the tag
  gateway, one USB serial port (protocol ``gateway``), addresses 1, 2, ... in
  site-file order (GPS tags first), mapped to device ids in ``gateway_devices``;
- the devices in the scenario's ``wiring`` (by default the first GPS tag and
  the first portable detector) have their own port instead: ``nmea`` for a
  GPS receiver, ``winsen`` for a detector's gas-module UART;
- fixed detectors sit on one RS-485 line as Modbus RTU units 1, 2, ...;
- wearables publish telemetry over MQTT through the wearable gateway;
- the siren/wearable controller listens on its own port.

The daemon's ``serial`` and ``controller`` sections come from
:meth:`SiteSimulator.serial_ports` and :meth:`SiteSimulator.controller_settings`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.config import SiteConfig
from edge_runtime.config.devices import ControllerSettings, ModbusPoll, SerialPort
from firmware_bridge.sim.controller import EmulatedController
from firmware_bridge.sim.modbus_slave import EmulatedModbusSlave
from firmware_bridge.sim.pty import PtyPort

from .firmware import (
    FixedDetectorFirmware,
    FrameSource,
    GatewayFirmware,
    GpsFirmware,
    SerialFirmware,
    WearableGateway,
    WinsenFirmware,
)
from .scenario import Scenario
from .timeline import SimClock
from .world import World

log = logging.getLogger(__name__)

ZONE_WATCH_S = 0.25  # how often zone entries and exits are looked for, scenario seconds


@dataclass(frozen=True, slots=True)
class SimEvent:
    """Something the scenario made happen: at scenario second ``t``, wall-clock ``ts``."""

    t: float
    ts: float
    target: str  # "worker:w07", "zone:tank-2", "detector:fd-1"
    actions: dict[str, Any]  # as written in the scenario, or {"left": zone, "entered": zone}


class SiteSimulator:
    """Emulated firmware for every device of ``config``, playing ``scenario``.

    Tests reach in through ``world`` (what is true at any instant), ``clock``
    (scenario time to wall time), ``events`` (what the scenario did when),
    ``ports`` (the ptys by name, e.g. ``ports["gateway"].unplug()``),
    ``controller`` (siren states) and ``modbus`` (the RS-485 line).
    """

    def __init__(
        self,
        config: SiteConfig,
        scenario: Scenario,
        *,
        pty_dir: Path,
        mqtt_host: str,
        mqtt_port: int,
        speed: float = 1.0,
        seed: int = 0,
        mqtt_credentials: tuple[str, str] | None = None,
    ) -> None:
        """``mqtt_credentials``: the wearable gateway's account where the broker has accounts."""
        self._mqtt_credentials = mqtt_credentials
        self.config = config
        self.scenario = scenario
        self.world = World(config, scenario, seed)
        self.clock = SimClock(speed)
        self.events: list[SimEvent] = []
        self.ports: dict[str, PtyPort] = {}
        self.controller: EmulatedController | None = None
        self.modbus: EmulatedModbusSlave | None = None
        self.wearables: WearableGateway | None = None
        self._pty_dir = Path(pty_dir)
        self._mqtt = (mqtt_host, mqtt_port)
        self._serial: list[SerialPort] = []
        self._emulators: list[SerialFirmware | FixedDetectorFirmware | WearableGateway] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._script = scenario.in_order
        self._next_event = 0

    # -- set-up ------------------------------------------------------------------
    async def start(self) -> None:
        """Create the ptys and the emulators and connect to the broker; nothing is sent until :meth:`run`."""
        self._pty_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._wire_tags()
            await self._wire_fixed_detectors()
            await self._wire_controller()
            await self._wire_wearables()
        except BaseException:
            await self.stop()
            raise

    def _port(self, name: str) -> PtyPort:
        port = self.ports[name] = PtyPort(self._pty_dir, name)
        return port

    def _wire_tags(self) -> None:
        world, clock, wiring = self.world, self.clock, self.scenario.wiring
        gps = [GpsFirmware(world, w.id, w.gps, clock) for w in self.config.workers if w.gps]
        gas = [WinsenFirmware(world, d.id) for d in self.config.detectors if d.kind == "portable"]
        via_gateway: list[FrameSource] = []
        for sources, chosen in ((gps, wiring.direct_nmea), (gas, wiring.direct_winsen)):
            direct = _direct(chosen, sources)
            for source in sources:
                if source.device not in direct:
                    via_gateway.append(source)
                    continue
                port = self._port(f"{source.protocol}-{source.device}")
                self._emulators.append(SerialFirmware(port, clock, [source]))
                self._serial.append(SerialPort(port=str(port.path), protocol=source.protocol, device=source.device))
        if via_gateway:
            tags = dict(enumerate(via_gateway, start=1))
            port = self._port("gateway")
            self._emulators.append(GatewayFirmware(port, clock, tags))
            devices = {address: s.device for address, s in tags.items()}
            self._serial.append(SerialPort(port=str(port.path), protocol="gateway", gateway_devices=devices))

    async def _wire_fixed_detectors(self) -> None:
        fixed = [d.id for d in self.config.detectors if d.kind == "fixed"]
        if not fixed:
            return
        port = self._port("rs485")
        units = dict(enumerate(fixed, start=1))
        self.modbus = EmulatedModbusSlave(port, list(units))
        firmwares = [FixedDetectorFirmware(self.world, d, self.modbus, u, self.clock) for u, d in units.items()]
        for fw in firmwares:
            fw.refresh(0.0)  # registers hold real values from the first poll on
        await self.modbus.start()
        self._emulators.extend(firmwares)
        polls = tuple(
            ModbusPoll(unit=u, detector=d, poll_interval_s=FixedDetectorFirmware.period_s) for u, d in units.items()
        )
        self._serial.append(SerialPort(port=str(port.path), protocol="modbus", modbus=polls))

    async def _wire_controller(self) -> None:
        self.controller = EmulatedController(self._port("controller"))
        await self.controller.start()

    async def _wire_wearables(self) -> None:
        wearables = {w.wearable: w.id for w in self.config.workers if w.wearable}
        if not wearables:
            return
        host, port = self._mqtt
        self.wearables = WearableGateway(
            self.world,
            self.clock,
            wearables,
            site=self.config.site.id,
            host=host,
            port=port,
            credentials=self._mqtt_credentials,
        )
        await self.wearables.start()
        self._emulators.append(self.wearables)

    # -- what the daemon's site file needs ---------------------------------------
    def serial_ports(self) -> list[SerialPort]:
        """The daemon's ``serial`` section: which protocol on which pty for which device."""
        return list(self._serial)

    def controller_settings(self) -> ControllerSettings | None:
        """The daemon's ``controller`` section: the emulated siren controller's port."""
        if self.controller is None:
            return None
        return ControllerSettings(port=str(self.controller.port.path))

    # -- running -----------------------------------------------------------------
    async def run(self, duration_s: float | None = None) -> None:
        """Play the scenario for ``duration_s`` scenario seconds (``None``: until cancelled or stopped).

        The first call starts scenario time; the world goes on after the last event.
        An emulator that crashes ends the run with its exception.
        """
        if not self.clock.started:
            self.clock.start()
        jobs: list[Coroutine[Any, Any, None]] = [e.run() for e in self._emulators]
        jobs += [self._play_events(), self._watch_zones()]
        self._tasks = [asyncio.create_task(j) for j in jobs]
        timeout = None if duration_s is None else duration_s / self.clock.speed
        try:
            done, _ = await asyncio.wait(self._tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._cancel_tasks()

    async def stop(self) -> None:
        """Stop every emulator and remove the ptys (idempotent)."""
        await self._cancel_tasks()
        if self.wearables is not None:
            await self.wearables.stop()
        if self.modbus is not None:
            await self.modbus.stop()
        if self.controller is not None:
            await self.controller.stop()
        for port in self.ports.values():
            port.close()

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _record(self, t: float, target: str, actions: dict[str, Any]) -> None:
        event = SimEvent(round(t, 3), self.clock.wall(t), target, actions)
        self.events.append(event)
        log.info("scenario event", extra={"t": event.t, "target": target, "actions": actions})

    async def _play_events(self) -> None:
        """Log each scenario event when its time comes (the world already knows what it does)."""
        while self._next_event < len(self._script):
            event = self._script[self._next_event]
            await self.clock.sleep_until(event.at)
            self._record(event.at, event.target, event.actions)
            self._next_event += 1

    async def _watch_zones(self) -> None:
        """Log each worker entering or leaving a zone (innermost), for correlating geofence alarms."""
        where: dict[str, str | None] = {}

        def look(t: float) -> None:
            for w in self.config.workers:
                zone = self.world.zone_of(w.id, t)
                if w.id in where and zone != where[w.id]:
                    self._record(t, f"worker:{w.id}", {"left": where[w.id], "entered": zone})
                where[w.id] = zone

        await self.clock.every(ZONE_WATCH_S, look)


def _direct(chosen: tuple[str, ...] | None, sources: Sequence[FrameSource]) -> set[str]:
    """Devices with their own port: those the wiring names, else the first of their kind."""
    if chosen is not None:
        return set(chosen)
    return {sources[0].device} if sources else set()

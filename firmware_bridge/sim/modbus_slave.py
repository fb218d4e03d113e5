"""Emulated fixed gas detectors: a Modbus RTU slave line on a :class:`PtyPort`.

The Modbus side is pymodbus's own serial server and simulator datastore, so
the poller is tested against a real, independent RTU implementation, not a
hand-written mirror of itself. A pty master has no path that pymodbus could
open, so the server sits on a second, internal pty and the two masters are
bridged byte for byte (what ``socat pty pty`` does). The outer port is the
one the daemon opens and tests unplug; the server never notices, exactly as
detectors on an RS-485 bus do not notice the gateway's USB adapter going.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.codecs.modbus_detector import REGISTER_COUNT, START_ADDRESS, encode_registers
from firmware_bridge.readings import Gas, GasSample

from .pty import PtyPort

log = logging.getLogger(__name__)


class EmulatedModbusSlave:
    """Several detectors (unit ids) on one emulated RS-485 line.

    ``set_samples`` is synchronous and takes effect on the next request: the
    registers live here and a pymodbus device *action* copies them into the
    datastore as each request is served.
    """

    def __init__(self, port: PtyPort, units: Iterable[int], *, baudrate: int = 9600, decimals: int = 1) -> None:
        self.port = port
        self.baudrate = baudrate
        self.decimals = decimals
        self.requests: dict[int, int] = {}
        self._registers: dict[int, list[int]] = {u: [0] * REGISTER_COUNT for u in units}
        self._muted: set[int] = set()
        self._line: PtyPort | None = None
        self._server: ModbusSerialServer | None = None

    def set_samples(
        self, unit: int, samples: Sequence[GasSample], faults: Mapping[Gas, str] | None = None
    ) -> None:
        """What ``unit`` reports from its next answer on (``faults``: fault names per gas)."""
        regs = encode_registers(list(samples), decimals=self.decimals, faults=faults)
        if len(regs) != REGISTER_COUNT:
            raise ValueError(f"encode_registers gave {len(regs)} registers, expected {REGISTER_COUNT}")
        self._registers[unit][:] = regs

    def mute(self, unit: int, muted: bool = True) -> None:
        """Make a detector fall silent (dead unit, broken A/B pair) or speak again.

        Requests to a muted unit are dropped before the server sees them; the
        poller writes each request in one piece, so the first byte of a chunk
        is the unit address.
        """
        (self._muted.add if muted else self._muted.discard)(unit)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._line = PtyPort(self.port.path.parent, f".{self.port.path.name}.line")
        devices = [
            SimDevice(
                id=unit,
                simdata=SimData(START_ADDRESS, values=[0] * REGISTER_COUNT, datatype=DataType.REGISTERS),
                action=functools.partial(self._serve, unit),
            )
            for unit in self._registers
        ]
        assert self._line.device is not None
        self._server = ModbusSerialServer(
            devices, framer=FramerType.RTU, port=self._line.device, baudrate=self.baudrate
        )
        await self._server.serve_forever(background=True)
        self.port.set_receiver(self._from_daemon)
        self._line.set_receiver(self._from_detectors)

    async def stop(self) -> None:
        self.port.clear_receiver()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        if self._line is not None:
            self._line.close()
            self._line = None

    async def __aenter__(self) -> EmulatedModbusSlave:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _from_detectors(self, data: bytes) -> None:
        self.port.write(data)  # dropped while the adapter is unplugged, as on a real bus

    def _from_daemon(self, data: bytes) -> None:
        if data and data[0] in self._muted:
            return
        assert self._line is not None
        self._line.write(data)

    async def _serve(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus device action: refresh the block before a request is answered."""
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # a detector's measurement registers are read-only
        self.requests[unit] = self.requests.get(unit, 0) + 1
        offset = START_ADDRESS - start_address
        registers[offset : offset + REGISTER_COUNT] = self._registers[unit]
        return None

"""ModbusPoller against pymodbus's own RTU server on a real pty line."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edge_runtime.config.devices import ModbusPoll
from firmware_bridge.backoff import Backoff
from firmware_bridge.codecs.modbus_detector import decode_registers, encode_registers
from firmware_bridge.modbus_poller import ModbusPoller
from firmware_bridge.readings import Gas, GasSample
from firmware_bridge.sim.modbus_slave import EmulatedModbusSlave
from firmware_bridge.sim.pty import PtyPort
from firmware_bridge.transport import LinkState

BAUD = 19200
H2S = [GasSample(Gas.H2S, 4.2, "ppm", full_range=100.0)]
LEL = [GasSample(Gas.LEL, 12.5, "%LEL", full_range=100.0)]
H2S_HIGH = [GasSample(Gas.H2S, 17.3, "ppm", full_range=100.0)]


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f}s")
        await asyncio.sleep(0.005)


def wire(samples: list[GasSample]) -> list[GasSample]:
    """What a detector's samples look like after a round trip through the register map."""
    return decode_registers(encode_registers(samples, decimals=1))


class Line:
    """A poller on a pty, with the samples it delivered per detector."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        self.latest: dict[str, list[GasSample]] = {}
        self.errors: list[tuple[str | None, Exception]] = []
        self.poller = ModbusPoller(
            str(path),
            BAUD,
            [
                ModbusPoll(unit=1, detector="fixed-h2s", poll_interval_s=0.05),
                ModbusPoll(unit=2, detector="fixed-lel", poll_interval_s=0.05),
            ],
            self.latest.__setitem__,
            backoff=Backoff(initial=0.02, maximum=0.1, jitter=0.0),
            on_error=lambda d, e: self.errors.append((d, e)),
            timeout_s=0.15,
            **kwargs,  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Line:
        self.task = asyncio.create_task(self.poller.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.poller.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 3.0)
        assert self.poller.state is LinkState.STOPPED


@pytest.fixture
async def slave(tmp_path: Path) -> AsyncIterator[EmulatedModbusSlave]:
    with PtyPort(tmp_path, "ttyUSB1") as port:
        async with EmulatedModbusSlave(port, units=(1, 2), baudrate=BAUD) as s:
            s.set_samples(1, H2S)
            s.set_samples(2, LEL)
            yield s


async def test_two_units_polled_and_decoded(slave: EmulatedModbusSlave) -> None:
    async with Line(slave.port.path) as line:
        await eventually(lambda: len(line.latest) == 2)
        assert line.latest["fixed-h2s"] == wire(H2S)
        assert line.latest["fixed-lel"] == wire(LEL)
        h2s = [s for s in line.latest["fixed-h2s"] if s.gas is Gas.H2S]
        assert h2s and h2s[0].value == pytest.approx(4.2)

        slave.set_samples(1, H2S_HIGH)
        await eventually(lambda: line.latest["fixed-h2s"] == wire(H2S_HIGH))
        assert line.poller.state is LinkState.OPEN
        assert all(u.errors == 0 and u.ok >= 1 for u in line.poller.units.values()), line.poller.units
        assert slave.requests[1] >= 2 and slave.requests[2] >= 1


async def test_unplug_and_replug_resumes_polling(slave: EmulatedModbusSlave) -> None:
    async with Line(slave.port.path) as line:
        await eventually(lambda: len(line.latest) == 2)
        task = line.task

        slave.port.unplug()
        await eventually(lambda: line.poller.state is LinkState.BACKOFF)
        await eventually(lambda: line.poller.stats.open_errors >= 2)  # path gone: reopen keeps failing
        assert line.poller.stats.disconnects == 1
        assert any(d is None for d, _ in line.errors)

        slave.set_samples(1, H2S_HIGH)  # changed while the adapter was out
        slave.port.replug()
        await eventually(lambda: line.latest["fixed-h2s"] == wire(H2S_HIGH))
        assert line.poller.state is LinkState.OPEN
        assert task is not None and line.task is task and not task.done()
        assert line.poller.stats.opens == 2


async def test_silent_unit_counted_other_unit_unaffected(slave: EmulatedModbusSlave) -> None:
    slave.mute(2)
    async with Line(slave.port.path) as line:
        await eventually(lambda: line.poller.units[2].timeouts >= 2)
        dead, alive = line.poller.units[2], line.poller.units[1]
        assert dead.consecutive_errors >= 2 and dead.ok == 0 and dead.last_error
        assert alive.ok >= 2 and alive.errors == 0
        assert "fixed-lel" not in line.latest
        assert "fixed-lel" in {d for d, _ in line.errors}
        assert line.poller.stats.disconnects == 0  # a dead detector is not a dead port

        slave.mute(2, False)
        await eventually(lambda: "fixed-lel" in line.latest)
        assert line.poller.units[2].consecutive_errors == 0


async def test_port_absent_at_start(tmp_path: Path) -> None:
    async with Line(tmp_path / "ttyUSB1") as line:
        await eventually(lambda: line.poller.stats.open_errors >= 2)
        assert line.poller.state in (LinkState.BACKOFF, LinkState.OPENING)
        with PtyPort(tmp_path, "ttyUSB1") as port:
            async with EmulatedModbusSlave(port, units=(1, 2), baudrate=BAUD) as late:
                late.set_samples(1, H2S)
                late.set_samples(2, LEL)
                await eventually(lambda: len(line.latest) == 2)

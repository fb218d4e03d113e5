"""SerialLink over real pseudo-terminals: data, unplug/replug, late ports, latency."""
from __future__ import annotations

import asyncio
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_bridge.backoff import Backoff
from firmware_bridge.errors import TransportError
from firmware_bridge.sim.pty import PtyPort
from firmware_bridge.transport import LinkState, SerialLink


def fast() -> Backoff:
    return Backoff(initial=0.01, maximum=0.05, jitter=0.0)


async def eventually(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (bounded) until ``cond()`` holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f}s")
        await asyncio.sleep(0.002)


class Harness:
    """A link on a pty, its task, and what it delivered."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        self.received = bytearray()
        self.states: list[LinkState] = []
        self.link = SerialLink(
            str(path),
            115200,
            self.received.extend,
            backoff=fast(),
            on_state=self.states.append,
            name="test",
            **kwargs,  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.link.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.link.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 2.0)
        assert self.link.state is LinkState.STOPPED


@pytest.fixture
def port(tmp_path: Path):
    with PtyPort(tmp_path, "ttyUSB0") as p:
        yield p


async def test_bytes_arrive_and_commands_go_out(port: PtyPort) -> None:
    back = bytearray()
    port.set_receiver(back.extend)
    async with Harness(port.path) as h:
        await eventually(lambda: h.link.is_open)
        port.write(b"$GPGGA,hello*00\r\n")
        await eventually(lambda: bytes(h.received) == b"$GPGGA,hello*00\r\n")
        await h.link.write(b"\x01\x02\x00")
        await eventually(lambda: bytes(back) == b"\x01\x02\x00")
        assert h.link.stats.bytes_in == 17 and h.link.stats.bytes_out == 3


async def test_unplug_backoff_replug_resumes_without_restart(port: PtyPort) -> None:
    async with Harness(port.path) as h:
        await eventually(lambda: h.link.is_open)
        port.write(b"before")
        await eventually(lambda: bytes(h.received) == b"before")
        task = h.task

        port.unplug()
        await eventually(lambda: h.link.state is LinkState.BACKOFF)
        assert h.link.stats.disconnects == 1
        with pytest.raises(TransportError):
            await h.link.write(b"nobody there")
        await asyncio.sleep(0.1)  # several failed reopens while the path is gone
        assert h.link.stats.errors >= 2

        port.replug()
        await eventually(lambda: h.link.is_open)
        port.write(b"+after")
        await eventually(lambda: bytes(h.received) == b"before+after")
        assert task is not None and h.task is task and not task.done()
        assert h.link.stats.reconnects == 1
        assert h.states[:3] == [LinkState.OPENING, LinkState.OPEN, LinkState.BACKOFF]
        assert h.states[-1] is LinkState.OPEN


async def test_port_that_appears_later(tmp_path: Path) -> None:
    path = tmp_path / "ttyACM0"
    async with Harness(path) as h:
        await eventually(lambda: h.link.stats.errors >= 3)
        assert h.link.state in (LinkState.BACKOFF, LinkState.OPENING)
        with PtyPort(tmp_path, "ttyACM0") as late:
            await eventually(lambda: h.link.is_open)
            late.write(b"hi")
            await eventually(lambda: bytes(h.received) == b"hi")
            assert h.link.stats.opens == 1


async def test_consumer_exception_does_not_drop_the_port(port: PtyPort) -> None:
    calls: list[bytes] = []

    def bad_consumer(data: bytes) -> None:
        calls.append(data)
        raise RuntimeError("consumer bug")

    link = SerialLink(str(port.path), 9600, bad_consumer, backoff=fast())
    task = asyncio.create_task(link.run())
    try:
        await eventually(lambda: link.is_open)
        port.write(b"a")
        await eventually(lambda: link.stats.callback_errors == 1)
        port.write(b"b")
        await eventually(lambda: link.stats.callback_errors == 2)
        assert link.is_open and link.stats.disconnects == 0
    finally:
        link.stop()
        await asyncio.wait_for(task, 2.0)


async def test_stop_during_long_backoff_is_prompt(tmp_path: Path) -> None:
    link = SerialLink(str(tmp_path / "missing"), 9600, lambda _: None, backoff=Backoff(initial=30.0, maximum=30.0))
    task = asyncio.create_task(link.run())
    await eventually(lambda: link.state is LinkState.BACKOFF)
    link.stop()
    await asyncio.wait_for(task, 1.0)
    assert link.state is LinkState.STOPPED


WRITER = """
import os, struct, sys, time
fd, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    os.write(fd, struct.pack("<Q", time.monotonic_ns()))
    time.sleep(0.002)
"""


async def test_latency_pty_write_to_on_bytes(port: PtyPort) -> None:
    """Firmware in another process writes 8-byte timestamps; on_bytes measures."""
    n = 400
    buf = bytearray()
    latencies_us: list[float] = []

    def on_bytes(data: bytes) -> None:
        now = time.monotonic_ns()
        buf.extend(data)
        while len(buf) >= 8:
            (sent,) = struct.unpack_from("<Q", buf)
            del buf[:8]
            latencies_us.append((now - sent) / 1000)

    link = SerialLink(str(port.path), 115200, on_bytes, backoff=fast())
    task = asyncio.create_task(link.run())
    try:
        await eventually(lambda: link.is_open)
        fd = port.fileno()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(fd), str(n), pass_fds=(fd,))
        assert await asyncio.wait_for(proc.wait(), 10.0) == 0
        await eventually(lambda: len(latencies_us) == n)
    finally:
        link.stop()
        await asyncio.wait_for(task, 2.0)
    q = statistics.quantiles(latencies_us, n=100)
    p50, p99 = statistics.median(latencies_us), q[98]
    print(f"\npty write -> on_bytes latency over {n} frames: p50 {p50:.0f} us, p99 {p99:.0f} us, max {max(latencies_us):.0f} us")
    assert p50 < 5_000 and p99 < 50_000

"""Serial transport: a reconnecting, event-driven reader/writer over pyserial.

pyserial opens and configures the port (baud, raw mode, exclusive lock); after
that the fd is driven straight from the event loop with ``loop.add_reader``, so
``on_bytes`` runs in the very loop iteration the kernel reports the bytes, with
no thread hop and no polling interval. USB adapters come and go: a hang-up,
``EIO``, EOF or SerialException closes the port, and the link reopens it after
the shared :class:`~firmware_bridge.backoff.Backoff`, whether or not the device
path exists yet, without restarting anything above it.
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from .backoff import Backoff
from .errors import TransportError

log = logging.getLogger(__name__)


class LinkState(str, enum.Enum):
    """Where the link is; the value is what health endpoints report."""

    CLOSED = "closed"  # constructed, run() not started
    OPENING = "opening"
    OPEN = "open"
    BACKOFF = "backoff"  # port lost or not there; waiting before the next open
    STOPPED = "stopped"  # stop() called; run() has returned


@dataclass
class LinkStats:
    """Counters for /metrics; monotonic over the link's life."""

    bytes_in: int = 0
    bytes_out: int = 0
    opens: int = 0
    reconnects: int = 0  # successful opens after a lost link or failed open
    disconnects: int = 0  # open link lost (hang-up, EIO, EOF, write failure)
    errors: int = 0  # failed opens and I/O errors
    callback_errors: int = 0  # on_bytes raised


class SerialLink:
    """One serial port kept open for as long as ``run()`` runs.

    ``opener`` is injected (default :func:`serial.serial_for_url`) and must
    return an open port with a file descriptor. Backoff is reset only after a
    proven success: bytes received, or the port staying open for
    ``stable_after_s`` (a silent but healthy port, e.g. the controller link).
    """

    def __init__(
        self,
        url: str,
        baudrate: int,
        on_bytes: Callable[[bytes], None],
        *,
        backoff: Backoff | None = None,
        on_state: Callable[[LinkState], None] | None = None,
        opener: Callable[..., serial.Serial] = serial.serial_for_url,
        name: str = "",
        stable_after_s: float = 5.0,
        write_timeout_s: float = 1.0,
        read_size: int = 4096,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.name = name or url
        self.stats = LinkStats()
        self._on_bytes = on_bytes
        self._on_state = on_state
        self._opener = opener
        self._backoff = backoff or Backoff()
        self._stable_after_s = stable_after_s
        self._write_timeout_s = write_timeout_s
        self._read_size = read_size
        self._state = LinkState.CLOSED
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: serial.Serial | None = None
        self._fd: int | None = None
        self._opened_at = 0.0
        self._lost: asyncio.Future[BaseException | None] | None = None
        self._write_lock = asyncio.Lock()
        self._write_waiter: asyncio.Future[None] | None = None
        self._outage_logged = False
        self._running = False

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state is LinkState.OPEN

    async def run(self) -> None:
        """Keep the port open until :meth:`stop`; never raises for port trouble.

        A stopped link stays stopped: make a new one to start again.
        """
        if self._running:
            raise RuntimeError(f"{self.name}: run() already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                self._set_state(LinkState.OPENING)
                try:
                    self._open()
                except (serial.SerialException, OSError, ValueError) as exc:
                    self.stats.errors += 1
                    self._log_outage("cannot open port", exc)
                    await self._pause()
                    continue
                cause = await self._until_lost()
                lived = time.monotonic() - self._opened_at
                self._close(cause)
                if self._stop.is_set():
                    break
                self.stats.disconnects += 1
                if lived >= self._stable_after_s:
                    self._backoff.reset()
                self._log_outage("port lost", cause)
                await self._pause()
        finally:
            self._close(None)
            self._running = False
            self._set_state(LinkState.STOPPED)

    def stop(self) -> None:
        """Ask ``run()`` to close the port and return (safe to call any time)."""
        self._stop.set()

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; writes from concurrent callers never interleave.

        Raises :class:`TransportError` when the link is not open, is lost
        mid-write, or the port stays unwritable for ``write_timeout_s``.
        """
        async with self._write_lock:
            view = memoryview(data)
            while view:
                fd = self._fd
                if fd is None or self._state is not LinkState.OPEN:
                    raise TransportError(f"{self.name}: link not open ({self._state.value})")
                try:
                    n = os.write(fd, view)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError as exc:
                    self.stats.errors += 1
                    self._lose(exc)
                    raise TransportError(f"{self.name}: write failed: {exc}") from exc
                self.stats.bytes_out += n
                view = view[n:]
                if view:
                    await self._wait_writable(fd)

    # -- internals -------------------------------------------------------------------
    def _open(self) -> None:
        loop = self._loop
        assert loop is not None
        # timeout=0: pyserial opens O_NONBLOCK; the loop does all waiting.
        port = self._opener(self.url, baudrate=self.baudrate, timeout=0, write_timeout=0, exclusive=True)
        try:
            fd = port.fileno()
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_readable)
        except (AttributeError, serial.SerialException) as exc:
            port.close()
            raise ValueError(f"{self.url} has no file descriptor to poll") from exc
        except BaseException:
            port.close()
            raise
        self._port, self._fd = port, fd
        self._lost = loop.create_future()
        self._opened_at = time.monotonic()
        if self.stats.opens:
            self.stats.reconnects += 1
        self.stats.opens += 1
        if self._outage_logged:
            log.info("%s: port open again", self.name)
            self._outage_logged = False
        self._set_state(LinkState.OPEN)

    async def _until_lost(self) -> BaseException | None:
        """Wait until the open port is lost (returns the cause) or stop() is called (None)."""
        lost = self._lost
        assert lost is not None
        stopping = asyncio.ensure_future(self._stop.wait())
        waiters: list[asyncio.Future[Any]] = [lost, stopping]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        return lost.result() if lost.done() else None

    def _on_readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            data = os.read(fd, self._read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: adapter unplugged / pty master closed
            self.stats.errors += 1
            self._lose(exc)
            return
        if not data:  # EOF after hang-up
            self._lose(EOFError("end of file (hang-up)"))
            return
        self.stats.bytes_in += len(data)
        if self._backoff.attempts:
            self._backoff.reset()  # the device talked: that is success
        try:
            self._on_bytes(data)
        except Exception:  # a consumer bug must not take the port down
            self.stats.callback_errors += 1
            log.exception("%s: on_bytes callback failed", self.name)

    def _lose(self, cause: BaseException) -> None:
        """Mark the link lost; detach the fd at once so a hang-up cannot spin the loop."""
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(cause)

    def _close(self, cause: BaseException | None) -> None:
        fd, port = self._fd, self._port
        self._fd = self._port = None
        if fd is not None and self._loop is not None:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_exception(TransportError(f"{self.name}: link lost during write ({cause})"))
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("%s: close failed: %s", self.name, exc)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(cause)

    async def _wait_writable(self, fd: int) -> None:
        loop = self._loop
        assert loop is not None
        waiter: asyncio.Future[None] = loop.create_future()
        self._write_waiter = waiter
        loop.add_writer(fd, _resolve, waiter)
        try:
            await asyncio.wait_for(waiter, self._write_timeout_s)
        except asyncio.TimeoutError as exc:
            self.stats.errors += 1
            raise TransportError(f"{self.name}: write timed out after {self._write_timeout_s}s") from exc
        finally:
            self._write_waiter = None
            if self._fd == fd:
                loop.remove_writer(fd)

    async def _pause(self) -> None:
        self._set_state(LinkState.BACKOFF)
        delay = self._backoff.next_delay()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    def _log_outage(self, what: str, cause: BaseException | None) -> None:
        """One warning per outage; retries after it go to debug, not a log flood."""
        where = self.url if self.name == self.url else f"{self.name} ({self.url})"
        if self._outage_logged:
            log.debug("%s: %s: %s", where, what, cause)
        else:
            log.warning("%s: %s: %s (retrying with backoff)", where, what, cause)
            self._outage_logged = True

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            self._state = state
            report_state(self._on_state, state, self.name)

    def __repr__(self) -> str:
        return f"SerialLink({self.name!r}, {self._state.value})"


def report_state(on_state: Callable[[LinkState], None] | None, state: LinkState, name: str) -> None:
    """Tell an observer about a link's new state; its bugs never break the link."""
    if on_state is None:
        return
    try:
        on_state(state)
    except Exception:
        log.exception("%s: on_state callback failed", name)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

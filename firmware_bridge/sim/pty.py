"""A pseudo-terminal that behaves like a USB-serial adapter, for emulated firmware.

The daemon opens :attr:`PtyPort.path`, a stable symlink (like ``/dev/ttyUSB0``)
to the current pty slave; emulated firmware writes real bytes on the master.
:meth:`PtyPort.unplug` closes both ends and removes the symlink, so the reader
sees exactly what a pulled adapter gives on Linux (hang-up, ``EIO``, then a
path that does not exist); :meth:`PtyPort.replug` creates a fresh pty behind
the same path. Nothing here is mocked: the kernel's tty layer sits in between.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Receiver = Callable[[bytes], None]


class PtyPort:
    """One emulated serial adapter: a pty pair behind a stable symlink.

    The port keeps its own slave fd open while plugged, so the master never
    sees a hang-up while the daemon is between reconnects, and firmware
    writes made while nobody reads are buffered (or dropped when the kernel
    buffer is full, as a UART would lose them) instead of blocking.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str = "ttyUSB0") -> None:
        self.path = Path(directory) / name
        self.bytes_written = 0
        self.bytes_dropped = 0
        self.plug_count = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._device: str | None = None
        self._receiver: Receiver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._plug()

    # -- state -----------------------------------------------------------------
    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def device(self) -> str | None:
        """The current ``/dev/pts/N`` the symlink points at (None while unplugged)."""
        return self._device

    def fileno(self) -> int:
        """The master (firmware-side) fd, e.g. to hand to a writer process."""
        if self._master is None:
            raise OSError(errno.ENODEV, f"{self.path} is unplugged")
        return self._master

    # -- firmware side I/O -------------------------------------------------------
    def write(self, data: bytes) -> int:
        """Send bytes towards the daemon; returns how many the kernel accepted.

        Bytes written while unplugged, or beyond a full pty buffer, are dropped
        and counted: real firmware cannot block on a reader that is not there.
        """
        if self._master is None:
            self.bytes_dropped += len(data)
            return 0
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += os.write(self._master, view[sent:])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # slave side torn down under us
                log.debug("pty %s write failed: %s", self.path, exc)
                break
        self.bytes_written += sent
        self.bytes_dropped += len(data) - sent
        return sent

    def read(self, max_bytes: int = 4096, timeout: float = 1.0) -> bytes:
        """Blocking read of what the daemon wrote, bounded by ``timeout``.

        Returns ``b""`` on timeout or while unplugged. Not usable while a
        receiver is set (the event loop owns the fd then).
        """
        if self._receiver is not None:
            raise RuntimeError("read() while a receiver is set")
        master = self._master
        if master is None:
            return b""
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(master, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def set_receiver(self, receiver: Receiver, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Deliver the daemon's bytes to ``receiver`` on the event loop.

        The registration follows the port across unplug/replug, so an emulator
        sets it once and keeps working after the adapter comes back.
        """
        self.clear_receiver()
        self._loop = loop or asyncio.get_running_loop()
        self._receiver = receiver
        if self._master is not None:
            self._loop.add_reader(self._master, self._on_readable)

    def clear_receiver(self) -> None:
        if self._loop is not None and self._master is not None and self._receiver is not None:
            self._loop.remove_reader(self._master)
        self._receiver = None
        self._loop = None

    # -- cable -------------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the adapter: hang up both ends and remove the device path."""
        if self._master is None:
            return
        if self._loop is not None and self._receiver is not None:
            self._loop.remove_reader(self._master)
        master, slave = self._master, self._slave
        self._master = self._slave = None
        self._device = None
        os.close(master)  # the daemon's slave fd now reads EIO / polls HUP
        if slave is not None:
            os.close(slave)
        self.path.unlink(missing_ok=True)

    def replug(self) -> None:
        """Plug the adapter back in: a new pty behind the same path."""
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")
        if self._master is None:
            self._plug()

    def close(self) -> None:
        self.clear_receiver()
        self.unplug()
        self._closed = True

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PtyPort({str(self.path)!r} -> {self._device or 'unplugged'})"

    # -- internals -----------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = os.openpty()
        # Raw on both ends: no echo, no CR/LF translation, no signals on 0x03.
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        device = os.ttyname(slave)
        # Re-point atomically: a reader never sees a half-made link.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(device, tmp)
        os.replace(tmp, self.path)
        self._master, self._slave, self._device = master, slave, device
        self.plug_count += 1
        if self._loop is not None and self._receiver is not None:
            self._loop.add_reader(master, self._on_readable)

    def _on_readable(self) -> None:
        master = self._master
        if master is None or self._receiver is None:
            return
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # Cannot happen while we hold the slave open; stop polling rather than spin.
            log.warning("pty %s master read failed, receiver detached: %s", self.path, exc)
            if self._loop is not None:
                self._loop.remove_reader(master)
            return
        if data:
            self._receiver(data)

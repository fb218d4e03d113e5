"""The owner's handle on the store process: spawn it, wait until it serves, stop it in order.

The process is spawned (not forked: the daemon has threads) and listens on a
Unix socket in a private temporary directory (mode 0700; a socket path next
to the database could exceed the 107-byte limit). Producers authenticate with
a random key, so only processes the owner gave the address to can connect.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from edge_runtime.config.devices import SerialPort, StorageSettings

from . import server
from .errors import StoreError
from .producer import ProducerAddress

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0  # spawn + imports + opening the file, on a busy Raspberry Pi
_POLL_S = 0.05


class StoreProcess:
    """One running store process; made by :meth:`start`."""

    def __init__(
        self, process: BaseProcess, control: Connection, address: ProducerAddress, pid: int, failure: str
    ) -> None:
        self._process = process
        self._control = control
        self.address = address
        self.pid = pid
        self.failure_at_start = failure  # why the database could not be written when it started ("" if it could)

    @classmethod
    def start(cls, settings: StorageSettings, serial: Iterable[SerialPort]) -> StoreProcess:
        """Spawn the process, which opens (creates, migrates) the database; raises StoreError only if the
        process does not come up, not when the database cannot be opened (``failure_at_start`` says why)."""
        directory = Path(tempfile.mkdtemp(prefix="siteguard-store-"))
        address = ProducerAddress(str(directory / "store.sock"), os.urandom(32), settings.max_queued_readings)
        spec = server.ProcessSpec(settings, tuple(serial), address.address, address.authkey,
                                  logging.getLogger().getEffectiveLevel())
        ctx = mp.get_context("spawn")
        control, child_end = ctx.Pipe()
        process = ctx.Process(target=server.run, args=(spec, child_end), name="siteguard-store", daemon=True)
        try:
            process.start()
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise StoreError(f"cannot start the store process: {exc}") from exc
        finally:
            child_end.close()
        try:
            pid, failure = _wait_ready(process, control)
        except StoreError:
            _reap(process, 1.0)
            control.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        log.info("store process serving", extra={"pid": pid, "db": str(settings.path), "failure": failure})
        return cls(process, control, address, pid, failure)

    def connect(self) -> Connection:
        """A producer connection for the owner."""
        try:
            return Client(self.address.address, family="AF_UNIX", authkey=self.address.authkey)
        except (OSError, AuthenticationError) as exc:
            raise StoreError(f"cannot connect to the store process: {exc}") from exc

    def stop(self, timeout: float) -> bool:
        """Ask it to commit what it has and exit; True if it did within ``timeout`` (+1 s to exit)."""
        try:
            self._control.send(("stop", timeout))
        except OSError:
            pass  # already gone
        self._process.join(timeout + 1.0)
        stopped = not self._process.is_alive()
        if not stopped:
            log.error("store process did not stop in time; killing it", extra={"pid": self.pid})
            _reap(self._process, 1.0)
        elif self._process.exitcode:
            log.error("store process ended with an error", extra={"pid": self.pid, "exitcode": self._process.exitcode})
        self._control.close()
        shutil.rmtree(Path(self.address.address).parent, ignore_errors=True)
        return stopped and self._process.exitcode == 0


def _wait_ready(process: BaseProcess, control: Connection) -> tuple[int, str]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if control.poll(_POLL_S):
                status, detail = control.recv()
                if status == "ready":
                    pid, failure = detail
                    return int(pid), str(failure)
                raise StoreError(f"the store process could not start: {detail}")
        except (EOFError, OSError):
            process.join(1.0)  # it died before answering
            raise StoreError(f"the store process exited at start (exit code {process.exitcode})") from None
        if not process.is_alive():
            raise StoreError(f"the store process exited at start (exit code {process.exitcode})")
    raise StoreError(f"the store process did not start within {READY_TIMEOUT_S:.0f}s")


def _reap(process: BaseProcess, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace_s``."""
    if process.is_alive():
        process.terminate()
        process.join(grace_s)
    if process.is_alive():
        process.kill()
        process.join(grace_s)

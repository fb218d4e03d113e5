"""The daemon's side of the sync agent: start the process, take its reports, restart it, stop it.

Everything here runs on the daemon's loop and only reads a pipe when it is
readable: the agent's work (SQLite reads, zstd, HTTP) never runs on the
alarm path, and nothing the agent does (crash, hang, a dead cloud) can hold
up an alarm. A process that dies is started again after the shared backoff;
one that does not stop when asked is terminated, then killed.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from edge_runtime.store.producer import ProducerAddress
from firmware_bridge.backoff import Backoff

from . import process
from .state import SyncState

log = logging.getLogger(__name__)


class SyncSupervisor:
    """``context()`` is what heartbeats carry from the daemon (models, open alarms); sent with each report's answer."""

    def __init__(self, spec: process.AgentSpec, *, context: Callable[[], dict[str, Any]] = dict,
                 backoff: Backoff | None = None) -> None:
        self._spec = spec
        self._context = context
        self._backoff = backoff or Backoff(initial=1.0, maximum=60.0)
        self._ctx = mp.get_context("spawn")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._stopping = False
        self._restart: asyncio.TimerHandle | None = None
        self.state: SyncState | None = None  # the agent's latest report
        self.restarts = 0

    async def start(self, store_address: ProducerAddress) -> None:
        self._loop = asyncio.get_running_loop()
        self._spec = dataclasses.replace(self._spec, store_address=store_address)
        self._spawn()

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the agent to stop (it commits its last marks), then terminate or kill it if it does not."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        proc, conn = self._proc, self._conn
        if conn is not None:
            try:
                conn.send(process.STOP)
            except OSError:
                pass
        self._close_pipe()
        if proc is None:
            return
        await asyncio.to_thread(proc.join, timeout)
        for end in (proc.terminate, proc.kill):
            if not proc.is_alive():
                break
            log.error("sync agent did not stop in time; ending it", extra={"pid": proc.pid})
            end()
            await asyncio.to_thread(proc.join, 1.0)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def report(self) -> dict[str, Any]:
        """For /readyz and the dashboard: the process and the agent's latest state."""
        state = self.state or SyncState()
        return {"enabled": True, "alive": self.alive, "restarts": self.restarts,
                "degraded": not self.alive or state.degraded, **state.as_dict()}

    def _spawn(self) -> None:
        assert self._loop is not None
        conn, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=process.run, args=(self._spec, child), name="siteguard-sync", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, conn
        self._loop.add_reader(conn.fileno(), self._on_report)
        self._loop.add_reader(proc.sentinel, self._on_exit)

    def _close_pipe(self) -> None:
        loop, conn = self._loop, self._conn
        if conn is not None and not conn.closed:
            if loop is not None:
                loop.remove_reader(conn.fileno())
            conn.close()
        if loop is not None and self._proc is not None:
            loop.remove_reader(self._proc.sentinel)
        self._conn = None

    def _on_report(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn.poll(0):
                self.state = conn.recv()
                self._backoff.reset()  # it is up and reporting
                conn.send(self._context())
        except (EOFError, OSError):
            self._close_pipe()

    def _on_exit(self) -> None:
        self._close_pipe()
        if self._stopping:
            return
        code = self._proc.exitcode if self._proc is not None else None
        delay = self._backoff.next_delay()
        log.error("sync agent process exited (code %s); restarting in %.1fs", code, delay)
        self.restarts += 1
        assert self._loop is not None
        self._restart = self._loop.call_later(delay, self._respawn)

    def _respawn(self) -> None:
        self._restart = None
        if not self._stopping:
            self._spawn()

"""Starting the service: ``siteguard cloud serve``, in-process for the demo and tests, or as a child process.

Every start migrates the database first (idempotent; concurrent replicas
starting together are serialised by the migration's own transaction). The
service prints ``listening on <url>`` once it accepts connections, which is
how :class:`CloudProcess` learns the port it got when asked for port 0.
"""
from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aiohttp import web
from sqlalchemy import Engine

from cloud_sync.db.engine import make_engine
from cloud_sync.db.migrate import upgrade
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.errors import Conflict
from cloud_sync.registry.roles import Role

from .app import create_app
from .settings import ServiceSettings

READY_LINE = re.compile(r"^listening on (http://\S+)$")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Admin:
    """An admin account to have in the database before the service starts (the demo's sign-in)."""

    name: str
    password: str
    role: Role = Role.ADMIN


def prepare(settings: ServiceSettings, admin: Admin | None = None) -> Engine:
    """Migrates the database, makes the data directory and adds ``admin`` unless the name exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    if admin is not None:
        try:
            AdminAccounts(engine).add(admin.name, admin.role, admin.password)
        except Conflict:
            pass  # kept as it is: its password may have been changed on purpose
    return engine


@asynccontextmanager
async def running_service(settings: ServiceSettings, admin: Admin | None = None) -> AsyncIterator[str]:
    """Runs the service in this event loop while the block runs; yields its base URL."""
    engine = await asyncio.to_thread(prepare, settings, admin)
    runner = web.AppRunner(create_app(settings, engine), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        engine.dispose()


async def serve_forever(settings: ServiceSettings) -> None:
    """``siteguard cloud serve``: runs until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(settings) as url:
        print(f"listening on {url}", flush=True)
        await stop.wait()


class CloudProcess:
    """``siteguard cloud serve`` (through the ``siteguard`` command line) as a child process (a replica, or the demo's cloud), stopped on exit.

    ``with CloudProcess(settings, admin) as url:`` waits (bounded) until it listens;
    leaving the block stops it with SIGTERM, then SIGKILL if it lingers, also when the block fails.
    """

    def __init__(self, settings: ServiceSettings, admin: Admin | None = None, *,
                 log_path: Path | None = None) -> None:
        self._settings = settings
        self._admin = admin
        self._log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> str:
        prepare(self._settings, self._admin).dispose()
        s = self._settings
        command = [sys.executable, "-m", "edge_runtime", "cloud", "serve", "--db", s.db_url,
                   "--data-dir", str(s.data_dir), "--host", s.host, "--port", str(s.port)]
        logs = open(self._log_path, "a", encoding="utf-8") if self._log_path else nullcontext(subprocess.DEVNULL)
        with logs as stderr:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            self.url = self._await_ready(self._process)
        except BaseException:
            self.stop()
            raise
        return self.url

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
        finally:
            if process.stdout:
                process.stdout.close()

    @staticmethod
    def _await_ready(process: subprocess.Popen[str]) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    break
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the cloud service exited with status {process.wait()} before listening")
                if match := READY_LINE.match(line.strip()):
                    return match.group(1)
        raise TimeoutError(f"the cloud service did not listen within {START_TIMEOUT_S:.0f} s")

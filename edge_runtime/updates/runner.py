"""The update agent as the daemon runs it: opened before the slots load, run beside them, stopped before them.

Holds the HTTP session and the stop event the agent needs, so the daemon
keeps three calls: :meth:`open` (what each slot boots), :meth:`run` (with the
slots, once they started) and :meth:`stop` (first of all, by the event: a
cancelled run counts as an unclean end, and restarts during a watch would
then count towards rolling back a good model).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from cloud_sync.contract.rollout import SLOTS
from edge_runtime.config import SiteConfig

from .agent import UpdateAgent
from .client import RolloutClient
from .slots import ModelSlot
from .state import UpdateState

STOP_TIMEOUT_S = 10.0


class UpdateRunner:
    def __init__(self, config: SiteConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self.agent: UpdateAgent | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> dict[str, Path | None]:
        """Per slot, the installed package to boot (None: the site file's); nothing when updates are off."""
        c = self._config
        if not c.updates.enabled:
            return {}
        self._session = aiohttp.ClientSession()
        client = RolloutClient(self._session, c.sync.url, c.sync.credential(c.device_id),
                               timeout_s=c.updates.request_timeout_s, clock=self._clock)
        self.agent = UpdateAgent(c.updates, UpdateState(c.storage.path), client, trusted_keys=c.vision.keys(),
                                 models_dir=c.updates.models_path(c.storage.path), clock=self._clock)
        await self.agent.open()
        return {slot: self.agent.boot_package(slot) for slot in SLOTS}

    def run(self, slots: Mapping[str, ModelSlot]) -> None:
        if self.agent is not None:
            self._task = asyncio.create_task(self.agent.run(self._stop, dict(slots)), name="updates")

    async def stop(self) -> None:
        if self.agent is None:
            return
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), STOP_TIMEOUT_S)
        await self.agent.close()
        if self._session is not None:
            await self._session.close()
        self.agent = None

    def status(self) -> dict[str, Any]:
        return self.agent.status() if self.agent is not None else {"enabled": False}

"""Drops what no request can use any more: nonces whose timestamps are stale, expired sessions.

Every replica runs it on its own timer; the deletes are idempotent, so it does
not matter which replica gets there first, nor that several do.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from cloud_sync.registry.nonces import NonceLedger
from cloud_sync.registry.sessions import AdminSessions

log = logging.getLogger(__name__)


def housekeeping(nonces: NonceLedger, sessions: AdminSessions, every_s: float,
                 clock: Callable[[], float] = time.time) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that prunes every ``every_s`` while the app runs."""

    async def run() -> None:
        while True:
            try:
                now = clock()
                await asyncio.to_thread(nonces.prune, now)
                await asyncio.to_thread(sessions.prune, now)
            except Exception:  # the database may be away for a while: try again next round
                log.exception("cloud housekeeping failed")
            await asyncio.sleep(every_s)

    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(), name="cloud-housekeeping")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return context

"""``/healthz`` (the process answers) and ``/readyz`` (its database answers and is migrated to this code's head).

A load balancer sends requests only to ready replicas; a replica whose
database is away or behind answers 503 naming why, and recovers by itself.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cloud_sync.db.migrate import current
from web_common.api import public

from .keys import ENGINE

log = logging.getLogger(__name__)


def register(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


@public
async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@public
async def readyz(request: web.Request) -> web.Response:
    reason = await asyncio.to_thread(_not_ready, request.app[ENGINE])
    if reason is not None:
        return web.json_response({"ok": False, "error": reason}, status=503)
    return web.json_response({"ok": True})


def _not_ready(engine: Engine) -> str | None:
    try:
        if not current(engine):
            return "the database is not migrated to this version: run `siteguard cloud migrate`"
    except SQLAlchemyError as exc:
        log.warning("cloud database unreachable: %s", exc.__class__.__name__)
        return "the database does not answer"
    return None

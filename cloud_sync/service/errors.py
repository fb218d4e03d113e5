"""Registry refusals as API answers: NotFound is 404, Conflict 409, each with the registry's message.

A middleware inside the security guard, so handlers just call the registry
and no handler repeats the mapping.
"""
from __future__ import annotations

from aiohttp import web

from cloud_sync.registry.errors import Conflict, NotFound
from web_common.api import ApiError, Handler

STATUS = {NotFound: 404, Conflict: 409}


@web.middleware
async def registry_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (NotFound, Conflict) as exc:
        raise ApiError(STATUS[type(exc)], str(exc)) from None

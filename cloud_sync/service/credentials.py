"""Admin credentials for the shared security guard: database sessions and ``Authorization: Bearer`` tokens.

``web_common.security`` finds a cookie's session through a synchronous
``get(token)`` on the event loop; the cloud's sessions are rows in the
database, and a query must not run on the loop. So the middleware here, in
front of the guard, looks the credential up in a thread and leaves the answer
in a context variable, where :class:`ResolvedSessions` (the guard's lookup)
finds it: the guard then checks roles and CSRF exactly as on the dashboard.

A bearer token stands in for a session: the request is handed to the guard
with the token as its session cookie and the CSRF header filled in. That is
safe because CSRF rides on credentials a browser sends by itself (cookies),
and a browser never adds an ``Authorization`` header to a cross-site request.
"""
from __future__ import annotations

import asyncio
import math
import secrets
from contextvars import ContextVar
from typing import Any

from aiohttp import hdrs, web

from cloud_sync.registry.roles import Role
from cloud_sync.registry.sessions import AdminSessions
from cloud_sync.registry.tokens import ApiTokens
from web_common.api import Handler
from web_common.config import WebSecurity
from web_common.sessions import Session

_RESOLVED: ContextVar[tuple[str, Session[Role]] | None] = ContextVar("cloud_session", default=None)


class ResolvedSessions:
    """The guard's session lookup: the session the credentials middleware found for this request."""

    def get(self, token: str) -> Session[Role] | None:
        resolved = _RESOLVED.get()
        return resolved[1] if resolved is not None and resolved[0] == token else None


def credentials_middleware(web_security: WebSecurity[Role], sessions: AdminSessions, tokens: ApiTokens) -> Any:
    """Resolves the request's session cookie or bearer token (in a thread) for the guard behind it."""

    @web.middleware
    async def resolve(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, bearer = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            text = bearer.strip()
            token = await asyncio.to_thread(tokens.authenticate, text)
            if token is None:
                return await handler(request)  # no session: the guard answers 401
            session = Session(name=f"token:{token.id}", display_name=token.label, role=Role.parse(token.role),
                              csrf=secrets.token_urlsafe(16), created=token.created_ts,
                              last_seen=token.last_used_ts or token.created_ts, expires_ts=math.inf)
            headers = request.headers.copy()
            headers[hdrs.COOKIE] = f"{web_security.session_cookie}={text}"
            headers[web_security.csrf_header] = session.csrf
            request = request.clone(headers=headers)
            return await _with(text, session, handler, request)
        cookie = request.cookies.get(web_security.session_cookie)
        if not cookie:
            return await handler(request)
        found = await asyncio.to_thread(sessions.get, cookie)
        return await (handler(request) if found is None else _with(cookie, found, handler, request))

    return resolve


async def _with(token: str, session: Session[Role], handler: Handler, request: web.Request) -> web.StreamResponse:
    mark = _RESOLVED.set((token, session))
    try:
        return await handler(request)
    finally:
        _RESOLVED.reset(mark)

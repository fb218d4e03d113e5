"""``/api/v1/session``: sign in, who is signed in, sign out.

Checking a password costs tens of milliseconds of CPU by design, so it runs in
a thread: the event loop also carries the alarm path and must never wait on a
login.
"""
from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, cast

from aiohttp import web

from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session
from web_common.sessions import Session

from .keys import DASHBOARD, SESSION_COOKIE
from .roles import Role
from .schemas import LoginIn, RoleName, SessionOut

if TYPE_CHECKING:
    from . import Dashboard

log = logging.getLogger(__name__)


def register(api: ApiRegistry) -> None:
    api.route("POST", "/session", role=None, summary="Sign in", tag="session",
              body=LoginIn, response=SessionOut, errors=(401, 429))(login)
    api.route("GET", "/session", role=Role.VIEWER, summary="The signed-in session", tag="session",
              response=SessionOut)(whoami)
    api.route("DELETE", "/session", role=Role.VIEWER, summary="Sign out", tag="session", status=204)(logout)


async def login(request: web.Request, body: LoginIn) -> web.Response:
    """Checks the name and password and sets the session cookie; answers 429 after too many failures
    at one account or from one address. Send the returned ``csrf_token`` in the X-CSRF-Token header
    of every change."""
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    address = request.remote or "unknown"
    throttle = dashboard.throttle
    wait_s = throttle.attempt(body.name, address)
    if wait_s is not None:
        log.warning("dashboard sign-in refused: too many failures", extra={"account": body.name, "address": address})
        error = ApiError(429, "too many failed sign-ins for this account or from this address",
                         [f"try again in {math.ceil(wait_s)} s"])
        error.headers["Retry-After"] = str(math.ceil(wait_s))
        raise error
    account = await asyncio.to_thread(dashboard.accounts.authenticate, body.name, body.password)
    if account is None:
        log.info("dashboard sign-in failed", extra={"account": body.name, "address": address})
        raise ApiError(401, "wrong name or password")
    throttle.succeeded(body.name, address)
    if old := request.cookies.get(SESSION_COOKIE):
        dashboard.sessions.drop(old)
    session = dashboard.sessions.create(account)
    log.info("dashboard sign-in", extra={"account": account.name, "role": account.role.label, "address": address})
    response = web.json_response(text=_session_out(session).model_dump_json())
    response.set_cookie(SESSION_COOKIE, session.token, path="/", httponly=True, samesite="Strict",
                        secure=dashboard.settings.cookie_secure)
    return response


async def whoami(request: web.Request) -> SessionOut:
    """The signed-in account, its role and the session's CSRF token (the page calls this on load)."""
    return _session_out(current_session(request))


async def logout(request: web.Request) -> web.Response:
    """Ends the session and clears its cookie."""
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    if token := request.cookies.get(SESSION_COOKIE):
        dashboard.sessions.drop(token)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict",
                        secure=dashboard.settings.cookie_secure)
    return response


def _session_out(session: Session[Role]) -> SessionOut:
    return SessionOut(name=session.name, display_name=session.display_name, role=cast(RoleName, session.role.label),
                      csrf_token=session.csrf, expires_ts=session.expires_ts)

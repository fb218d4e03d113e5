"""``/api/v1/session``: admins sign in (a database session and its CSRF token), see who they are, sign out.

The throttle counts attempts in the database before the password is checked,
so parallel guesses spread over replicas meet the same limit; the argon2
check and every query run in a thread.
"""
from __future__ import annotations

import asyncio
import logging
import math
from typing import cast

from aiohttp import web

from cloud_sync.registry.roles import Role
from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session
from web_common.sessions import Session

from .keys import ACCOUNTS, METRICS, SESSIONS, SETTINGS, THROTTLE, WEB_SECURITY
from .schemas import LoginIn, RoleName, SessionOut

log = logging.getLogger(__name__)


def register(api: ApiRegistry[Role]) -> None:
    api.route("POST", "/session", role=None, summary="Sign in", tag="session", body=LoginIn,
              response=SessionOut, errors=(401, 429))(sign_in)
    api.route("GET", "/session", role=Role.VIEWER, summary="Who is signed in", tag="session",
              response=SessionOut)(whoami)
    api.route("DELETE", "/session", role=Role.VIEWER, summary="Sign out", tag="session", status=204)(sign_out)


async def sign_in(request: web.Request, body: LoginIn) -> web.Response:
    """Sets the session cookie for a right name and password; 429 after too many failures at the account
    or from the address. Send the answer's ``csrf_token`` in the X-CSRF-Token header of every change."""
    address = request.remote or "unknown"
    wait_s = await asyncio.to_thread(request.app[THROTTLE].attempt, body.name, address)
    if wait_s is not None:
        request.app[METRICS].rejected("signin_throttled")
        refused = ApiError(429, "too many failed sign-ins for this account or from this address",
                           [f"try again in {math.ceil(wait_s)} s"])
        refused.headers["Retry-After"] = str(math.ceil(wait_s))
        raise refused
    account = await asyncio.to_thread(request.app[ACCOUNTS].authenticate, body.name, body.password)
    if account is None:
        request.app[METRICS].rejected("signin_failed")
        log.info("cloud sign-in failed", extra={"account": body.name, "address": address})
        raise ApiError(401, "wrong name or password")
    sessions, cookie = request.app[SESSIONS], WEB_SECURITY.session_cookie
    await asyncio.to_thread(request.app[THROTTLE].succeeded, body.name, address)
    if old := request.cookies.get(cookie):
        await asyncio.to_thread(sessions.drop, old)
    session = await asyncio.to_thread(sessions.create, account)
    log.info("cloud sign-in", extra={"account": account.name, "role": account.role.label, "address": address})
    answer = web.json_response(text=_out(session).model_dump_json())
    answer.set_cookie(cookie, session.token, path="/", httponly=True, samesite="Strict",
                      secure=request.app[SETTINGS].cookie_secure)
    return answer


async def whoami(request: web.Request) -> SessionOut:
    """The signed-in account (or API token), its role and the CSRF token."""
    return _out(current_session(request))


async def sign_out(request: web.Request) -> web.Response:
    """Ends the session and clears its cookie."""
    cookie = WEB_SECURITY.session_cookie
    if token := request.cookies.get(cookie):
        await asyncio.to_thread(request.app[SESSIONS].drop, token)
    answer = web.Response(status=204)
    answer.del_cookie(cookie, path="/", httponly=True, samesite="Strict", secure=request.app[SETTINGS].cookie_secure)
    return answer


def _out(session: Session[Role]) -> SessionOut:
    return SessionOut(name=session.name, display_name=session.display_name, role=cast(RoleName, session.role.label),
                      csrf_token=session.csrf, expires_ts=session.expires_ts if math.isfinite(session.expires_ts) else None)

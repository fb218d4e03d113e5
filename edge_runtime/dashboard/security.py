"""The one place that decides who may do what over HTTP: sessions, roles, CSRF and response headers.

Deny by default: a route needs a signed-in viewer unless its handler is
marked :func:`~.api.public` or its path is one of the few the login page
needs; unknown paths need a session too, so an anonymous client learns nothing
about which exist. Every state change needs the session's CSRF token in the
``X-CSRF-Token`` header (the session cookie is also SameSite=Strict), and a
cross-site ``Origin`` is refused outright. Prometheus may read ``/metrics``
with a bearer token instead of a session.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from yarl import URL

from .api import UNSAFE_METHODS, ApiError, Handler, required_role
from .keys import API, CSRF_HEADER, DASHBOARD, SESSION_COOKIE
from .sessions import Session

if TYPE_CHECKING:
    from . import Dashboard

PUBLIC_STATIC = frozenset({"/static/login.js", "/static/style.css", "/static/siteguard.svg"})
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/readyz"}) | PUBLIC_STATIC
METRICS_PATH = "/metrics"
SESSION = web.RequestKey("session", Session)  # set on signed-in requests; read it with current_session()
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def current_session(request: web.Request) -> Session:
    """The signed-in session of a request that passed the middleware (its ``.name`` goes on actions)."""
    session = request.get(SESSION)
    if session is None:
        raise ApiError(401, "not signed in")
    return session


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Guards the request, then adds the security headers to whatever answers it."""
    try:
        response: web.StreamResponse = await _guarded(request, handler)
    except web.HTTPException as exc:
        _add_headers(request, exc)
        raise
    _add_headers(request, response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    route_handler = request.match_info.handler
    if request.method in UNSAFE_METHODS or _is_websocket(request):
        _check_origin(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = dashboard.sessions.get(token) if token else None
    if session is not None:
        request[SESSION] = session
    role = None if request.path in PUBLIC_PATHS else required_role(route_handler)
    if role is None:
        return await handler(request)
    if session is None:
        if getattr(route_handler, "metrics_token_ok", False) and _metrics_token_ok(request, dashboard):
            return await handler(request)
        _refuse_anonymous(request)
    if session.role < role:
        raise ApiError(403, f"this needs the {role.label} role; {session.name} is a {session.role.label}")
    if request.method in UNSAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, "").encode(), session.csrf.encode()
    ):
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")
    return await handler(request)


def _refuse_anonymous(request: web.Request) -> NoReturn:
    """401 for API clients and scrapers; the login page, then back here, for a browser."""
    if _is_api(request.path) or request.path == METRICS_PATH or request.method not in ("GET", "HEAD"):
        raise ApiError(401, "not signed in")
    raise web.HTTPFound(URL("/login").with_query(next=request.rel_url.path_qs))


def _check_origin(request: web.Request) -> None:
    """A browser names the page a request comes from; one from another site is refused (CSRF)."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        raise ApiError(403, "cross-site request refused", [f"Origin {origin} does not match this host"])


def _metrics_token_ok(request: web.Request, dashboard: Dashboard) -> bool:
    expected = dashboard.settings.metrics_token_sha256
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if expected is None or scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(hashlib.sha256(token.strip().encode()).hexdigest(), expected)


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:  # a stream the handler already started has sent its headers
        return
    response.headers.update(SECURITY_HEADERS)
    if _is_api(request.path):
        response.headers[hdrs.CACHE_CONTROL] = "no-store"


def _is_api(path: str) -> bool:
    return path == API or path.startswith(API + "/")


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"

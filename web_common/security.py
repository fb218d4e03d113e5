"""The one place that decides who may do what over HTTP: sessions, roles, CSRF and response headers.

Deny by default: a route needs a session of the app's lowest role unless its
handler is marked :func:`~.api.public` or its path is one of the few the login
page needs; unknown paths need a session too, so an anonymous client learns
nothing about which exist. Every state change needs the session's CSRF token
in the CSRF header (the session cookie is also SameSite=Strict), and a
cross-site ``Origin`` is refused outright. Prometheus may read the metrics
with a bearer token instead of a session, where the handler allows it.

Every answer carries the security headers, errors included: they are set
when aiohttp prepares a response (:func:`install` hooks that in), so neither
an exception nor a stream a handler starts itself can skip them, and an
unexpected exception becomes a logged JSON 500. The login page's ``?next=``
is vetted here too: it must keep the browser on this origin.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol
from urllib.parse import urljoin, urlsplit

from aiohttp import hdrs, web
from yarl import URL

from .api import UNSAFE_METHODS, ApiError, Handler, required_role
from .config import WebSecurity
from .sessions import Session

log = logging.getLogger(__name__)

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
SESSION = web.RequestKey("session", Session)  # set on signed-in requests; read it with current_session()
#: WHATWG URL parsing trims C0 controls and space from both ends, drops tab/LF/CR anywhere and,
#: in http(s) URLs, reads "\" as "/": what a browser makes of a ?next= is checked after the same steps
_TRIMMED = "".join(map(chr, range(0x21)))
_BROWSER_READS = str.maketrans("\\", "/", "\t\n\r")


class SessionLookup(Protocol):
    """Where the middleware finds a cookie's session: a :class:`~.sessions.SessionStore` or the app's own."""

    def get(self, token: str) -> Session[Any] | None: ...


def install(app: web.Application, security: WebSecurity[Any], sessions: SessionLookup, *,
            metrics_token_sha256: str | None = None) -> None:
    """Guards every request of ``app`` and puts the security headers on every answer."""
    app.middlewares.append(security_middleware(security, sessions, metrics_token_sha256=metrics_token_sha256))
    app.on_response_prepare.append(_headers_hook(security))


def security_middleware(security: WebSecurity[Any], sessions: SessionLookup, *,
                        metrics_token_sha256: str | None = None) -> Middleware:
    """The guard alone (:func:`install` also adds the headers). ``metrics_token_sha256``: SHA-256 (hex) of
    the bearer token that stands in for a session on handlers marked ``metrics_token_ok``; None: no token."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Guards the request; a handler's unexpected exception is logged and answered as a JSON 500."""
        try:
            return await _guarded(request, handler, security, sessions, metrics_token_sha256)
        except web.HTTPException:
            raise
        except Exception:
            if request.writer.output_size:  # a stream already sent its headers: no other answer can follow
                raise
            log.exception("request failed", extra={"method": request.method, "path": request.path})
            raise ApiError(500, "internal error") from None

    return guard


def current_session(request: web.Request) -> Session[Any]:
    """The signed-in session of a request that passed the middleware (its ``.name`` goes on actions)."""
    session = request.get(SESSION)
    if session is None:
        raise ApiError(401, "not signed in")
    return session


def safe_next(target: str, origin: str) -> str:
    """``target`` as the browser will read it if that stays on ``origin`` (e.g. ``http://host:8080``), else "/".

    Only a path from this origin's root passes: after the browser's own clean-up,
    ``/`` tab ``/evil.example`` reads ``//evil.example`` (another host), so it is refused.
    """
    path = target.strip(_TRIMMED).translate(_BROWSER_READS)
    parts = urlsplit(path)
    if not path.startswith("/") or path.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    resolved, base = urlsplit(urljoin(origin + "/", path)), urlsplit(origin)
    return path if (resolved.scheme, resolved.netloc) == (base.scheme, base.netloc) else "/"


async def _guarded(request: web.Request, handler: Handler, security: WebSecurity[Any], sessions: SessionLookup,
                   metrics_token_sha256: str | None) -> web.StreamResponse:
    route_handler = request.match_info.handler
    if request.method in UNSAFE_METHODS or _is_websocket(request):
        _check_origin(request)
    if request.path == security.login_path and "next" in request.query:
        _vet_next(request, security.login_path)
    token = request.cookies.get(security.session_cookie)
    session = sessions.get(token) if token else None
    if session is not None:
        request[SESSION] = session
    role = None if security.is_public(request.path) else required_role(route_handler, security.lowest_role)
    if role is None:
        return await handler(request)
    if session is None:
        if getattr(route_handler, "metrics_token_ok", False) and _metrics_token_ok(request, metrics_token_sha256):
            return await handler(request)
        _refuse_anonymous(request, security)
    if session.role < role:
        raise ApiError(403, f"this needs the {role.label} role; {session.name} is a {session.role.label}")
    if request.method in UNSAFE_METHODS and not hmac.compare_digest(
        request.headers.get(security.csrf_header, "").encode(), session.csrf.encode()
    ):
        raise ApiError(403, f"missing or wrong {security.csrf_header} header")
    return await handler(request)


def _refuse_anonymous(request: web.Request, security: WebSecurity[Any]) -> NoReturn:
    """401 for API clients and scrapers; the login page, then back here, for a browser."""
    if security.is_api(request.path) or request.path == security.metrics_path or request.method not in ("GET", "HEAD"):
        raise ApiError(401, "not signed in")
    raise web.HTTPFound(URL(security.login_path).with_query(next=request.rel_url.path_qs))


def _vet_next(request: web.Request, login_path: str) -> None:
    """Sends the browser back to the login page with a safe ``?next=`` (the page goes there after sign-in)."""
    targets = request.query.getall("next")
    safe = safe_next(targets[0], f"{request.scheme}://{request.host}")
    if targets != [safe]:
        raise web.HTTPFound(URL(login_path).with_query(next=safe))


def _check_origin(request: web.Request) -> None:
    """A browser names the page a request comes from; one from another site is refused (CSRF)."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        raise ApiError(403, "cross-site request refused", [f"Origin {origin} does not match this host"])


def _metrics_token_ok(request: web.Request, expected: str | None) -> bool:
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if expected is None or scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(hashlib.sha256(token.strip().encode()).hexdigest(), expected)


def _headers_hook(security: WebSecurity[Any]) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        """The on_response_prepare hook: runs for every answer, just before its headers are sent."""
        response.headers.update(security.headers)
        response.headers[hdrs.SERVER] = security.server
        if security.is_api(request.path):
            response.headers[hdrs.CACHE_CONTROL] = "no-store"

    return add_headers


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"

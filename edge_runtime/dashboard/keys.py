"""Names shared by the HTTP app and every dashboard module: app keys, paths, cookie and header,
and the web toolkit's settings built from them."""
from __future__ import annotations

from aiohttp import web

from web_common.config import WebSecurity

from .roles import Role

DAEMON = web.AppKey("daemon", object)  # the node the pages show: a runtime.DashboardRuntime
DASHBOARD = web.AppKey("dashboard", object)  # the Dashboard (accounts, sessions, live hub, metrics)

API = "/api/v1"
SESSION_COOKIE = "siteguard_session"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/login"
#: the static files the login page loads before anyone is signed in
PUBLIC_STATIC = frozenset({"/static/login.js", "/static/style.css", "/static/siteguard.svg"})

WEB = WebSecurity(
    roles=Role, session_cookie=SESSION_COOKIE, server="SiteGuard", api_prefix=API, csrf_header=CSRF_HEADER,
    login_path=LOGIN_PATH, public_paths=frozenset({"/healthz", "/readyz"}) | PUBLIC_STATIC, metrics_path="/metrics",
)

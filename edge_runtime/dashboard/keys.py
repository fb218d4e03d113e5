"""Names shared by the HTTP app and every dashboard module: app keys, paths, cookie and header."""
from __future__ import annotations

from aiohttp import web

DAEMON = web.AppKey("daemon", object)  # the node the pages show: a runtime.DashboardRuntime
DASHBOARD = web.AppKey("dashboard", object)  # the Dashboard (accounts, sessions, live hub, metrics)

API = "/api/v1"
SESSION_COOKIE = "siteguard_session"
CSRF_HEADER = "X-CSRF-Token"

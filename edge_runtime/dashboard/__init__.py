"""The supervisors' dashboard: a JSON API (``/api/v1``), live updates, metrics and the page.

:func:`setup_dashboard` adds it to the daemon's HTTP app. Each part lives in a
module of its own (accounts, one ``api_*`` module per resource, the live hub,
metrics, pages); the generic ones (API registry, sessions, sign-in throttle,
security middleware) come from web_common, set up for the dashboard by
``keys.WEB``. This module only composes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from edge_runtime import __version__
from web_common.api import ApiRegistry
from web_common.security import install as install_security
from web_common.sessions import SessionStore
from web_common.throttle import LoginThrottle

from . import api_accounts, api_alarms, api_history, api_session, api_site, api_zones
from .accounts import AccountStore
from .keys import DASHBOARD, WEB
from .live import LiveHub
from .metrics import SiteMetrics
from .pages import register_pages
from .roles import Role
from .zone_actions import ZoneActions

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

    from .runtime import DashboardRuntime


@dataclass
class Dashboard:
    """Everything the dashboard keeps between requests (``app[DASHBOARD]``)."""

    settings: "DashboardSettings"
    accounts: AccountStore
    sessions: SessionStore[Role]
    throttle: LoginThrottle
    zone_actions: ZoneActions
    live: LiveHub
    metrics: SiteMetrics
    api: ApiRegistry[Role]


def build_api() -> ApiRegistry[Role]:
    """Every endpoint of ``/api/v1`` (also what the OpenAPI document describes)."""
    api = ApiRegistry(WEB, reasons={409: "Conflict with the alarm's state"})
    for module in (api_session, api_accounts, api_site, api_alarms, api_zones, api_history):
        module.register(api)
    LiveHub.register(api)

    @api.route("GET", "/openapi.json", role=Role.VIEWER, summary="This API's OpenAPI document", tag="meta")
    async def openapi(request: web.Request) -> web.Response:
        dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
        return web.json_response(dashboard.api.openapi("SiteGuard edge dashboard API", __version__))

    return api


def setup_dashboard(app: web.Application, daemon: "DashboardRuntime") -> Dashboard:
    """Adds the dashboard to ``app``: middleware, API, live hub, metrics and pages."""
    settings = daemon.config.dashboard
    api = build_api()
    dashboard = Dashboard(
        settings=settings,
        accounts=AccountStore(settings, Path(daemon.config.storage.path)),
        sessions=SessionStore(idle_s=settings.session_idle_s, max_s=settings.session_max_s, clock=daemon.clock),
        throttle=LoginThrottle(settings.login_attempts, settings.login_lockout_s, daemon.clock),
        zone_actions=ZoneActions(daemon, Path(daemon.config.storage.path)),
        live=LiveHub(daemon, settings),
        metrics=SiteMetrics(daemon),
        api=api,
    )
    app[DASHBOARD] = dashboard
    install_security(app, WEB, dashboard.sessions, metrics_token_sha256=settings.metrics_token_sha256)
    api.mount(app)
    app.router.add_get(WEB.metrics_path, dashboard.metrics.handle)
    register_pages(app)

    async def close(_: web.Application) -> None:
        await dashboard.live.close()
        dashboard.metrics.close()
        dashboard.accounts.close()
        dashboard.zone_actions.close()

    app.on_shutdown.append(close)
    return dashboard

"""The supervisors' dashboard: a JSON API (``/api/v1``), live updates, metrics and the page.

:func:`setup_dashboard` adds it to the daemon's HTTP app. Each part lives in a
module of its own (accounts, sessions, security, one ``api_*`` module per
resource, the live hub, metrics, pages); this module only composes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from edge_runtime import __version__

from . import api_accounts, api_alarms, api_history, api_session, api_site, api_zones
from .accounts import AccountStore
from .api import ApiRegistry
from .keys import DASHBOARD
from .live import LiveHub
from .metrics import SiteMetrics
from .pages import register_pages
from .roles import Role
from .security import install as install_security
from .sessions import SessionStore
from .zone_actions import ZoneActions

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

    from .runtime import DashboardRuntime


@dataclass
class Dashboard:
    """Everything the dashboard keeps between requests (``app[DASHBOARD]``)."""

    settings: "DashboardSettings"
    accounts: AccountStore
    sessions: SessionStore
    zone_actions: ZoneActions
    live: LiveHub
    metrics: SiteMetrics
    api: ApiRegistry


def build_api() -> ApiRegistry:
    """Every endpoint of ``/api/v1`` (also what the OpenAPI document describes)."""
    api = ApiRegistry()
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
        sessions=SessionStore(settings, clock=daemon.clock),
        zone_actions=ZoneActions(daemon, Path(daemon.config.storage.path)),
        live=LiveHub(daemon, settings),
        metrics=SiteMetrics(daemon),
        api=api,
    )
    app[DASHBOARD] = dashboard
    install_security(app)
    api.mount(app)
    app.router.add_get("/metrics", dashboard.metrics.handle)
    register_pages(app)

    async def close(_: web.Application) -> None:
        await dashboard.live.close()
        dashboard.metrics.close()
        dashboard.accounts.close()
        dashboard.zone_actions.close()

    app.on_shutdown.append(close)
    return dashboard

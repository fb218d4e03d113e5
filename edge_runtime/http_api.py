"""The daemon's HTTP server: health for the orchestrator, and the supervisors' dashboard."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from edge_runtime.config.devices import HttpSettings
from edge_runtime.dashboard import setup_dashboard
from edge_runtime.dashboard.keys import DAEMON
from web_common.api import public

if TYPE_CHECKING:
    from edge_runtime.daemon import EdgeDaemon

@public
async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. K3s restarts the pod when this fails."""
    return web.json_response({"status": "alive"})


@public
async def readyz(request: web.Request) -> web.Response:
    """Ready: broker connected, storage writable, every sensor port open."""
    daemon: EdgeDaemon = request.app[DAEMON]  # type: ignore[assignment]
    report = daemon.readiness()
    return web.json_response(report, status=200 if report["ready"] else 503)


def create_app(daemon: "EdgeDaemon") -> web.Application:
    app = web.Application()
    app[DAEMON] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if daemon.config.dashboard.enabled:
        setup_dashboard(app, daemon)
    return app


class HttpServer:
    """aiohttp runner bound to the configured host/port (port 0 picks a free one)."""

    def __init__(self, daemon: "EdgeDaemon", settings: HttpSettings) -> None:
        self._daemon = daemon
        self._settings = settings
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def app(self) -> web.Application | None:
        """The running application, with the dashboard's state at ``app[DASHBOARD]``."""
        return self._runner.app if self._runner else None

    @property
    def url(self) -> str | None:
        return f"http://{self._settings.host}:{self.port}" if self.port else None

    async def start(self) -> None:
        self._runner = web.AppRunner(create_app(self._daemon), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._settings.port

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

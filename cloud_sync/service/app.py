"""The cloud service's aiohttp application: every part built on one engine, nothing kept per process.

Request handling, outermost first: the credentials middleware (a session or
API token looked up in the database, in a thread), the shared security guard
(roles, CSRF, origin, security headers, JSON 500s), the registry-error
mapping, then the handler. Routes: the admin API (``/api/v1``) and the signed
device API (``/v1``) from two shared registries, probes, ``/metrics`` and the
console's static files.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from cloud_sync.definitions import DefinitionStore
from cloud_sync.ingest import Ingest
from cloud_sync.model_registry import api as model_api
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.device_auth import DeviceAuthenticator
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.heartbeats import HeartbeatStore
from cloud_sync.registry.nonces import NonceLedger
from cloud_sync.registry.roles import Role
from cloud_sync.registry.sessions import AdminSessions
from cloud_sync.registry.throttle import SigninThrottle
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.rollout import api as rollout_api
from cloud_sync.training import admin_api as training_api
from web_common.api import ApiRegistry
from web_common.config import WebSecurity
from web_common.security import install as install_security

from . import admin_data, admin_devices, admin_labels, admin_people, admin_session, device_api, probes
from .console import register_console
from .credentials import ResolvedSessions, credentials_middleware
from .document import openapi_document
from .errors import registry_errors
from .housekeeping import housekeeping
from .keys import (
    ACCOUNTS, DEVICE_API, DEVICE_AUTH, DEVICES, ENGINE, HEARTBEATS, INGEST, METRICS, SESSIONS, SETTINGS, THROTTLE, TOKENS,
    WEB_SECURITY,
)
from .metrics import CloudMetrics
from .settings import ServiceSettings

DOCUMENT = web.AppKey("openapi", dict[str, Any])
DEVICE_SECURITY = WebSecurity(roles=Role, session_cookie=WEB_SECURITY.session_cookie, server=WEB_SECURITY.server,
                              api_prefix=DEVICE_API)


def build_apis() -> tuple[ApiRegistry[Role], ApiRegistry[Role]]:
    """The admin API and the device API, as declared (also what the OpenAPI document describes)."""
    admin: ApiRegistry[Role] = ApiRegistry(WEB_SECURITY, reasons={409: "Conflict with what is stored"})
    for module in (admin_session, admin_people, admin_devices, admin_data, admin_labels, training_api):
        module.register(admin)
    model_api.register(admin)
    rollout_api.register(admin)
    admin.route("GET", "/openapi.json", role=Role.VIEWER, summary="This API's OpenAPI document",
                tag="meta")(openapi)
    devices: ApiRegistry[Role] = ApiRegistry(DEVICE_SECURITY)
    device_api.register(devices)
    rollout_api.register_device(devices)
    return admin, devices


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


def create_app(settings: ServiceSettings, engine: Engine, *, clock: Callable[[], float] = time.time) -> web.Application:
    """The service on ``engine`` (migrated already: :func:`.launch.serve` sees to it)."""
    app = web.Application(client_max_size=settings.max_batch_bytes)
    devices = DeviceRegistry(engine, key_overlap_s=settings.key_overlap_s, clock=clock)
    heartbeats = HeartbeatStore(engine, clock=clock)
    nonces = NonceLedger(engine)
    sessions = AdminSessions(engine, idle_s=settings.session_idle_s, max_s=settings.session_max_s, clock=clock)
    tokens = ApiTokens(engine, clock=clock)
    ingest = Ingest(engine, DefinitionStore(engine), clock)
    app[SETTINGS], app[ENGINE], app[DEVICES], app[HEARTBEATS] = settings, engine, devices, heartbeats
    app[DEVICE_AUTH] = DeviceAuthenticator(devices, nonces, clock=clock)
    app[ACCOUNTS] = AdminAccounts(engine, clock=clock)
    app[SESSIONS], app[TOKENS] = sessions, tokens
    app[THROTTLE] = SigninThrottle(engine, attempts=settings.signin_attempts, lockout_s=settings.signin_lockout_s,
                                   clock=clock)
    app[INGEST] = ingest
    training_api.install(app, engine, settings.data_dir, settings.jobs_url)
    model_api.install(app, settings, engine)
    rollout_api.install(app, engine)
    app[METRICS] = CloudMetrics(engine, devices, heartbeats, ingest.stats, clock=clock)

    app.middlewares.append(credentials_middleware(WEB_SECURITY, sessions, tokens))
    install_security(app, WEB_SECURITY, ResolvedSessions())
    app.middlewares.append(registry_errors)
    admin, device_routes = build_apis()
    admin.mount(app)
    device_routes.mount(app)
    app[DOCUMENT] = openapi_document(admin, device_routes, version("siteguard"))
    probes.register(app)
    app.router.add_get(WEB_SECURITY.metrics_path, metrics_handler)
    register_console(app)
    app.cleanup_ctx.append(housekeeping(nonces, sessions, settings.housekeeping_s, clock))
    return app


async def metrics_handler(request: web.Request) -> web.Response:
    """Prometheus text; the fleet gauges query the database, so it is built in a thread."""
    body = await asyncio.to_thread(request.app[METRICS].scrape)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


metrics_handler.required_role = Role.VIEWER  # type: ignore[attr-defined]

"""The service's typed app keys, one per part, all set by :func:`.app.create_app`, and its web settings."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import Engine

from cloud_sync.ingest import Ingest
from cloud_sync.model_registry.predict import Predictor
from cloud_sync.model_registry.registry import ModelRegistry
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.device_auth import DeviceAuthenticator
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.heartbeats import HeartbeatStore
from cloud_sync.registry.roles import Role
from cloud_sync.registry.sessions import AdminSessions
from cloud_sync.registry.throttle import SigninThrottle
from cloud_sync.registry.tokens import ApiTokens
from web_common.config import WebSecurity

from .metrics import CloudMetrics
from .settings import ServiceSettings

API = "/api/v1"
DEVICE_API = "/v1"
CONSOLE = "/console/"

WEB_SECURITY = WebSecurity(
    roles=Role, session_cookie="siteguard_cloud_session", server="SiteGuard cloud", api_prefix=API,
    login_path=CONSOLE, public_paths=frozenset({"/healthz", "/readyz"}), metrics_path="/metrics",
)

SETTINGS = web.AppKey("settings", ServiceSettings)
ENGINE = web.AppKey("engine", Engine)
DEVICES = web.AppKey("devices", DeviceRegistry)
HEARTBEATS = web.AppKey("heartbeats", HeartbeatStore)
DEVICE_AUTH = web.AppKey("device_auth", DeviceAuthenticator)
ACCOUNTS = web.AppKey("accounts", AdminAccounts)
SESSIONS = web.AppKey("sessions", AdminSessions)
THROTTLE = web.AppKey("throttle", SigninThrottle)
TOKENS = web.AppKey("tokens", ApiTokens)
METRICS = web.AppKey("metrics", CloudMetrics)
INGEST = web.AppKey("ingest", Ingest)
MODEL_REGISTRY = web.AppKey("model_registry", ModelRegistry)
PREDICTOR = web.AppKey("predictor", Predictor)

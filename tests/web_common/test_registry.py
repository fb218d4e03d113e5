"""The registry and the security middleware with roles, paths and names other than the edge's, as the
cloud service will use them: the guard follows the app's role order and its OpenAPI names its own."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from web_common.api import ApiError, ApiRegistry, public
from web_common.config import WebSecurity
from web_common.roles import OrderedRole
from web_common.security import current_session, install
from web_common.sessions import SessionStore


class CloudRole(OrderedRole):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


@dataclass(frozen=True)
class Admin:
    name: str
    display_name: str
    role: CloudRole


class DeviceIn(BaseModel):
    name: str


class DeviceOut(BaseModel):
    name: str
    by: str


CLOUD = WebSecurity(roles=CloudRole, session_cookie="cloud_session", server="Cloud", api_prefix="/api",
                    csrf_header="X-Cloud-CSRF", login_path="/signin")


def build_api() -> ApiRegistry[CloudRole]:
    api = ApiRegistry(CLOUD)

    @api.route("GET", "/ping", role=None, summary="Alive", tag="meta")
    async def ping(request: web.Request) -> dict[str, bool]:
        return {"ok": True}

    @api.route("GET", "/devices", role=CloudRole.VIEWER, summary="Devices", tag="devices", response=DeviceOut)
    async def devices(request: web.Request) -> DeviceOut:
        return DeviceOut(name="gw-1", by=current_session(request).name)

    @api.route("POST", "/devices", role=CloudRole.OPERATOR, summary="Register a device", tag="devices",
               body=DeviceIn, response=DeviceOut, status=201, errors=(409,))
    async def register(request: web.Request, body: DeviceIn) -> DeviceOut:
        if body.name == "gw-1":
            raise ApiError(409, "taken")
        return DeviceOut(name=body.name, by=current_session(request).name)

    @api.route("DELETE", "/tokens/{token_id}", role=CloudRole.ADMIN, summary="Revoke a token", tag="tokens")
    async def revoke(request: web.Request, token_id: str) -> None:
        return None

    return api


@dataclass
class Cloud:
    http: TestClient
    sessions: SessionStore[CloudRole]

    def headers(self, role: CloudRole, *, csrf: bool = True) -> dict[str, str]:
        session = self.sessions.create(Admin(role.label, "", role))
        return {"Cookie": f"cloud_session={session.token}", **({"X-Cloud-CSRF": session.csrf} if csrf else {})}


@pytest.fixture
async def cloud() -> AsyncIterator[Cloud]:
    async def console(request: web.Request) -> web.Response:
        return web.Response(text="console")

    @public
    async def signin(request: web.Request) -> web.Response:
        return web.Response(text="sign in")

    sessions: SessionStore[CloudRole] = SessionStore(idle_s=60, max_s=600)
    app = web.Application()
    install(app, CLOUD, sessions)
    build_api().mount(app)
    app.router.add_get("/console", console)
    app.router.add_get("/signin", signin)
    async with TestClient(TestServer(app)) as http:
        yield Cloud(http, sessions)


async def test_the_guard_follows_the_apps_roles(cloud: Cloud) -> None:
    http = cloud.http
    r = await http.get("/api/ping")
    assert (r.status, r.headers["Server"], r.headers["Cache-Control"]) == (200, "Cloud", "no-store")
    r = await http.get("/api/devices")
    assert (r.status, await r.json()) == (401, {"error": "not signed in", "details": []})
    r = await http.get("/console", allow_redirects=False)
    assert (r.status, r.headers["Location"]) == (302, "/signin?next=/console")
    r = await http.get("/api/devices", headers=cloud.headers(CloudRole.VIEWER))
    assert (r.status, await r.json()) == (200, {"name": "gw-1", "by": "viewer"})

    r = await http.post("/api/devices", json={"name": "gw-2"}, headers=cloud.headers(CloudRole.VIEWER))
    assert (r.status, (await r.json())["error"]) == (403, "this needs the operator role; viewer is a viewer")
    r = await http.post("/api/devices", json={"name": "gw-2"}, headers=cloud.headers(CloudRole.OPERATOR, csrf=False))
    assert (r.status, (await r.json())["error"]) == (403, "missing or wrong X-Cloud-CSRF header")
    r = await http.post("/api/devices", json={"name": "gw-2"}, headers=cloud.headers(CloudRole.OPERATOR))
    assert (r.status, await r.json()) == (201, {"name": "gw-2", "by": "operator"})
    r = await http.post("/api/devices", json={"nom": "gw-2"}, headers=cloud.headers(CloudRole.ADMIN))
    assert (r.status, (await r.json())["details"]) == (422, ["body.name: Field required"])

    r = await http.delete("/api/tokens/t1", headers=cloud.headers(CloudRole.OPERATOR))
    assert r.status == 403
    assert (await http.delete("/api/tokens/t1", headers=cloud.headers(CloudRole.ADMIN))).status == 204


def test_the_openapi_document_names_the_apps_paths_roles_cookie_and_header() -> None:
    doc = build_api().openapi("Cloud API", "1.0")
    assert doc["info"] == {"title": "Cloud API", "version": "1.0"}
    assert sorted(doc["paths"]) == ["/api/devices", "/api/ping", "/api/tokens/{token_id}"]
    assert doc["components"]["securitySchemes"] == {
        "session": {"type": "apiKey", "in": "cookie", "name": "cloud_session"},
        "csrf": {"type": "apiKey", "in": "header", "name": "X-Cloud-CSRF"},
    }
    ping = doc["paths"]["/api/ping"]["get"]
    assert ping["security"] == [] and "x-role" not in ping
    get, post = doc["paths"]["/api/devices"]["get"], doc["paths"]["/api/devices"]["post"]
    assert (get["x-role"], get["security"]) == ("viewer", [{"session": []}])
    assert (post["x-role"], post["security"]) == ("operator", [{"session": [], "csrf": []}])
    assert {"201", "401", "403", "409", "422"} <= set(post["responses"])
    assert post["responses"]["409"]["description"] == "Conflict"
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DeviceIn"}
    revoke = doc["paths"]["/api/tokens/{token_id}"]["delete"]
    assert revoke["x-role"] == "admin" and revoke["parameters"][0]["name"] == "token_id"

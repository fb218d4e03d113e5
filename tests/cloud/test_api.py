"""The admin API on the real service (SQLite and PostgreSQL): sign-in with a database session, CSRF,
the viewer < operator < admin roles, API tokens, the sign-in throttle and the security headers."""
from __future__ import annotations

from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.roles import Role
from cloud_sync.service.keys import WEB_SECURITY
from tests.cloud.test_service_harness import ADMIN, PROFILE, AdminClient, Cloud, cloud  # noqa: F401
from tests.page_checks import page_refs

NEW_DEVICE = {"id": "edge-7", "site": "plant-a", "name": "Gate", "device_type": "pi-gw", "profile": PROFILE}


async def people(cloud: Cloud) -> dict[str, AdminClient]:
    """One signed-in client per role."""
    accounts = AdminAccounts(cloud.engine)
    clients = {}
    for role in (Role.VIEWER, Role.OPERATOR):
        accounts.add(role.label, role, f"{role.label}-password-1")
        clients[role.label] = cloud.browser()
        assert (await clients[role.label].sign_in(role.label, f"{role.label}-password-1")).status == 200
    clients["admin"] = cloud.browser()
    assert (await clients["admin"].sign_in(ADMIN.name, ADMIN.password)).status == 200
    return clients


async def close(clients: dict[str, AdminClient]) -> None:
    for client in clients.values():
        await client.http.close()


async def test_sign_in_session_csrf_and_sign_out(cloud: Cloud) -> None:
    browser = AdminClient(cloud.http)
    assert (await browser.call("GET", "/devices")).status == 401
    wrong = await browser.sign_in(ADMIN.name, "not the password")
    assert (wrong.status, wrong.body["error"]) == (401, "wrong name or password")
    signed_in = await browser.sign_in(ADMIN.name, ADMIN.password)
    assert signed_in.status == 200 and signed_in.body["role"] == "admin"
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and WEB_SECURITY.session_cookie in cookie
    assert (await browser.call("GET", "/session")).body["name"] == ADMIN.name
    csrf = browser.headers.pop(WEB_SECURITY.csrf_header)
    refused = await browser.call("POST", "/devices", NEW_DEVICE)
    assert (refused.status, refused.body["error"]) == (403, f"missing or wrong {WEB_SECURITY.csrf_header} header")
    cross_site = await browser.call("POST", "/devices", NEW_DEVICE, Origin="http://evil.example",
                                    **{WEB_SECURITY.csrf_header: csrf})
    assert (cross_site.status, cross_site.body["error"]) == (403, "cross-site request refused")
    assert (await browser.call("POST", "/devices", NEW_DEVICE, **{WEB_SECURITY.csrf_header: csrf})).status == 201
    assert (await browser.call("DELETE", "/session", **{WEB_SECURITY.csrf_header: csrf})).status == 204
    assert (await browser.call("GET", "/session")).status == 401


async def test_roles_viewers_read_operators_manage_devices_admins_manage_people(cloud: Cloud) -> None:
    clients = await people(cloud)
    try:
        viewer, operator, admin = clients["viewer"], clients["operator"], clients["admin"]
        assert (await viewer.call("GET", "/devices")).status == 200
        refused = await viewer.call("POST", "/devices", NEW_DEVICE)
        assert (refused.status, refused.body["error"]) == (403, "this needs the operator role; viewer is a viewer")
        assert (await operator.call("POST", "/devices", NEW_DEVICE)).status == 201
        assert (await operator.call("PATCH", "/devices/edge-7", {"name": "Main gate"})).body["name"] == "Main gate"
        assert (await operator.call("PATCH", "/devices/edge-7", {"nmae": "typo"})).status == 422
        assert (await operator.call("PATCH", "/devices/nope", {"name": "x"})).status == 404
        assert (await operator.call("POST", "/devices", NEW_DEVICE)).status == 409
        assert (await operator.call("GET", "/accounts")).status == 403
        assert (await operator.call("POST", "/tokens", {"label": "x", "role": "admin"})).status == 403
        assert [a["name"] for a in (await admin.call("GET", "/accounts")).body["accounts"]] == [
            "ada", "operator", "viewer"]
        assert (await admin.call("DELETE", "/accounts/viewer")).status == 204
        assert (await viewer.call("GET", "/devices")).status == 401  # removing an account ends its sessions
    finally:
        await close(clients)


async def test_api_tokens_need_no_csrf_and_stop_when_revoked(cloud: Cloud) -> None:
    admin = cloud.admin()
    created = await admin.call("POST", "/tokens", {"label": "deploys", "role": "operator"})
    assert created.status == 201 and created.body["token"].startswith("sgadm1.")
    script = AdminClient(cloud.http, {"Authorization": f"Bearer {created.body['token']}"})
    assert (await script.call("GET", "/session")).body["role"] == "operator"
    assert (await script.call("POST", "/devices", NEW_DEVICE)).status == 201
    assert (await script.call("GET", "/tokens")).status == 403
    listed = (await admin.call("GET", "/tokens")).body["tokens"]
    assert all("token" not in t for t in listed) and {t["label"] for t in listed} == {"tests", "deploys"}
    assert (await admin.call("DELETE", f"/tokens/{created.body['id']}")).body["revoked_ts"] is not None
    assert (await script.call("GET", "/devices")).status == 401
    assert (await AdminClient(cloud.http, {"Authorization": "Bearer sgadm1.x.y"}).call("GET", "/devices")).status == 401


async def test_sign_in_throttle_answers_429_with_retry_after(cloud: Cloud) -> None:
    browser = AdminClient(cloud.http)
    for _ in range(5):
        assert (await browser.sign_in(ADMIN.name, "wrong-password")).status == 401
    throttled = await browser.sign_in(ADMIN.name, ADMIN.password)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0


async def test_every_answer_carries_the_security_headers_and_the_console_is_served(cloud: Cloud) -> None:
    for path in ("/api/v1/devices", "/console/", "/healthz", "/v1/devices/x/heartbeat", "/nope"):
        async with cloud.http.get(path) as response:
            headers = response.headers
            assert headers["Content-Security-Policy"].startswith("default-src 'self'"), path
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["Server"] == WEB_SECURITY.server
    async with cloud.http.get("/console/") as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]
        assert page_refs(await response.text())[0] == []  # inline code would need a weaker CSP
    async with cloud.http.get("/console/..%2Fapp.py") as response:
        assert response.status == 404

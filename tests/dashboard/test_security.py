"""Sign-in, sessions, CSRF, Origin and response headers: unit tests of the session store and the
login throttle on a fake clock, then the real daemon's HTTP server on loopback."""
from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from edge_runtime.config.dashboard import DashboardSettings
from edge_runtime.dashboard.accounts import Account
from edge_runtime.dashboard.keys import API, CSRF_HEADER, SESSION_COOKIE, WEB
from edge_runtime.dashboard.roles import Role
from tests.broker import Mosquitto
from tests.dashboard.harness import ACCOUNTS, DashboardClient, FakeClock, dashboard_site, signed_in
from web_common.api import public
from web_common.passwords import hash_password, verify_password
from web_common.security import install, safe_next, security_middleware
from web_common.sessions import SessionStore
from web_common.throttle import LoginThrottle

SAM = Account("sam", "Sam", Role.SUPERVISOR, "config")


def session_store(settings: DashboardSettings, clock: FakeClock) -> SessionStore[Role]:
    return SessionStore(idle_s=settings.session_idle_s, max_s=settings.session_max_s, clock=clock)


# -- session store and login throttle ---------------------------------------------------------------

def test_a_session_is_found_by_its_token_and_only_the_hash_is_kept() -> None:
    store = session_store(DashboardSettings(), FakeClock())
    created = store.create(SAM)
    found = store.get(created.token)
    assert found is not None and (found.name, found.role, found.csrf) == ("sam", Role.SUPERVISOR, created.csrf)
    assert found.token == "" and created.token not in repr(vars(store))
    assert created.csrf != created.token
    assert store.get("not-a-token") is None


def test_a_session_ends_when_idle_and_touching_it_keeps_it_alive() -> None:
    clock = FakeClock()
    store = session_store(DashboardSettings(session_idle_s=60, session_max_s=3600), clock)
    token = store.create(SAM).token
    clock.now += 59
    session = store.get(token)
    assert session is not None and session.expires_ts == clock.now + 60
    clock.now += 60
    assert store.get(token) is None
    assert store.get(token) is None  # stays gone


def test_a_session_ends_at_its_maximum_age_however_busy() -> None:
    clock = FakeClock()
    store = session_store(DashboardSettings(session_idle_s=60, session_max_s=150), clock)
    session = store.create(SAM)
    for _ in range(4):
        clock.now += 30
        assert store.get(session.token) is not None
    assert store.get(session.token).expires_ts == session.created + 150  # type: ignore[union-attr]
    clock.now = session.created + 150
    assert store.get(session.token) is None


def test_dropping_ends_one_session_or_every_session_of_a_user() -> None:
    store = session_store(DashboardSettings(), FakeClock())
    first, second, other = store.create(SAM), store.create(SAM), store.create(Account("ada", "", Role.ADMIN, "database"))
    store.drop(first.token)
    assert store.get(first.token) is None and store.get(second.token) is not None
    store.drop_user("sam")
    assert store.get(second.token) is None
    assert store.get(other.token).display_name == "ada"  # type: ignore[union-attr]


def test_the_throttle_locks_an_account_and_an_address_out_after_too_many_attempts() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(attempts=3, lockout_s=60, clock=clock)
    assert [throttle.attempt("sam", "10.0.0.1") for _ in range(3)] == [None, None, None]
    assert throttle.attempt("sam", "10.0.0.1") == 60
    assert throttle.attempt("sam", "10.0.0.2") == 60  # the account waits, whatever the address
    assert throttle.attempt("ada", "10.0.0.1") == 60  # and so does the address, whatever the account
    assert throttle.attempt("ada", "10.0.0.2") is None
    clock.now += 45
    assert throttle.attempt("sam", "10.0.0.1") == 15
    clock.now += 15
    assert throttle.attempt("sam", "10.0.0.1") is None  # the lockout is over


def test_many_addresses_guessing_at_one_account_are_stopped() -> None:
    throttle = LoginThrottle(attempts=3, lockout_s=60, clock=FakeClock())
    assert [throttle.attempt("sam", f"10.0.0.{i}") for i in range(3)] == [None, None, None]
    assert throttle.attempt("sam", "10.0.0.99") == 60


def test_one_address_guessing_at_many_accounts_is_stopped() -> None:
    throttle = LoginThrottle(attempts=3, lockout_s=60, clock=FakeClock())
    assert [throttle.attempt(name, "10.0.0.1") for name in ("sam", "ada", "vera")] == [None, None, None]
    assert throttle.attempt("nobody", "10.0.0.1") == 60


def test_a_successful_login_forgets_only_that_accounts_attempts_from_that_address() -> None:
    throttle = LoginThrottle(attempts=2, lockout_s=60, clock=FakeClock())
    throttle.attempt("vera", "a")
    throttle.succeeded("vera", "a")
    assert throttle.attempt("vera", "a") is None and throttle.attempt("vera", "a") is None
    assert throttle.attempt("vera", "a") is not None


def test_signing_in_to_one_account_buys_no_more_guesses_at_another() -> None:
    """The bypass: a guess at sam, then a real sign-in as vera, again and again from one address."""
    throttle = LoginThrottle(attempts=3, lockout_s=60, clock=FakeClock())
    refused = 0
    for _ in range(20):
        if throttle.attempt("sam", "a") is not None:
            refused += 1
        if throttle.attempt("vera", "a") is None:
            throttle.succeeded("vera", "a")
    assert refused == 17  # only the first 3 guesses at sam were let through
    assert throttle.attempt("sam", "b") is not None  # sam's count is not the address's to reset


def test_a_flood_of_made_up_names_cannot_grow_the_throttle_without_bound() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(attempts=5, lockout_s=60, clock=clock, capacity=100)
    for i in range(10_000):
        throttle.attempt(f"name-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(throttle) == 200  # capped: the least recently tried entries went first
    assert throttle.attempt("name-9999", "10.0.39.15") is None  # the newest are still counted...
    for _ in range(3):
        throttle.attempt("name-9999", "10.0.39.15")
    assert throttle.attempt("name-9999", "10.0.39.15") == 60  # ...and still limited
    clock.now += 60
    throttle.attempt("sam", "10.9.9.9")
    assert len(throttle) == 2  # and entries expire with their lockout


# -- passwords ----------------------------------------------------------------------------------------

def test_argon2_hashes_verify_and_garbage_matches_nothing() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and hashed != hash_password("correct horse")  # salted
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("$argon2id$garbage", "correct horse")


def test_a_bcrypt_hash_without_the_bcrypt_package_lets_nobody_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from web_common import passwords

    monkeypatch.setattr(passwords, "bcrypt", None)
    assert not verify_password("$2b$12$" + "a" * 53, "anything")


# -- over HTTP ------------------------------------------------------------------------------------------

@pytest.fixture
async def site(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[str]:
    async with dashboard_site(tmp_path, mosquitto.port) as (_, __, url):
        yield url


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(site: str) -> None:
    client = DashboardClient(site)
    try:
        async with client.session.post(f"{site}{API}/session", json={"name": "sam", "password": ACCOUNTS["sam"][1]}) as r:
            assert r.status == 200
            body = await r.json()
            cookie = r.cookies[SESSION_COOKIE]
        assert (body["name"], body["display_name"], body["role"]) == ("sam", "Sam", "supervisor")
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert not cookie["secure"]  # cookie_secure is off by default (plain HTTP on the site LAN)
        assert body["csrf_token"] and body["csrf_token"] != cookie.value
        client.csrf = body["csrf_token"]
        status, me = await client.get(f"{API}/session")
        assert status == 200 and me["csrf_token"] == body["csrf_token"]
        status, _ = await client.request("DELETE", f"{API}/session")
        assert status == 204
        assert (await client.get(f"{API}/session"))[0] == 401
    finally:
        await client.close()


async def test_the_cookie_is_secure_when_configured(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, cookie_secure=True) as (_, __, url):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}{API}/session", json={"name": "vera", "password": ACCOUNTS["vera"][1]}) as r:
                assert r.status == 200 and r.cookies[SESSION_COOKIE]["secure"]


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(site: str) -> None:
    async with aiohttp.ClientSession() as http:
        answers = []
        for name, password in (("sam", "not-sams-password"), ("nobody", "whatever-password")):
            async with http.post(f"{site}{API}/session", json={"name": name, "password": password}) as r:
                assert SESSION_COOKIE not in r.cookies
                answers.append((r.status, await r.json()))
    assert answers[0] == answers[1] == (401, {"error": "wrong name or password", "details": []})


async def test_too_many_failed_logins_lock_the_address_out(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, login_attempts=2, login_lockout_s=30) as (_, __, url):
        client = DashboardClient(url)
        try:
            for _ in range(2):
                assert (await client.post(f"{API}/session", {"name": "sam", "password": "guess-password"}))[0] == 401
            async with client.session.post(f"{url}{API}/session",
                                           json={"name": "sam", "password": ACCOUNTS["sam"][1]}) as r:
                assert r.status == 429  # even the right password waits
                assert 0 < int(r.headers["Retry-After"]) <= 30
                assert (await r.json())["error"] == "too many failed sign-ins for this account or from this address"
        finally:
            await client.close()


async def test_signing_in_to_another_account_between_guesses_does_not_reset_the_count(site: str) -> None:
    """The bypass: 20 guesses at sam's password, each followed by a real sign-in as vera (5 attempts allowed).

    Once the address has failed 5 times it waits for every account, vera's too."""
    client = DashboardClient(site)
    try:
        guesses, sign_ins = [], []
        for _ in range(20):
            guesses.append((await client.post(f"{API}/session", {"name": "sam", "password": "guess-password"}))[0])
            sign_ins.append((await client.post(f"{API}/session", {"name": "vera", "password": ACCOUNTS["vera"][1]}))[0])
        assert guesses == [401] * 5 + [429] * 15
        assert sign_ins == [200] * 4 + [429] * 16
    finally:
        await client.close()


async def test_changes_need_the_csrf_token_of_the_session(site: str) -> None:
    async with signed_in(site, "ada") as client:
        account = {"name": "newcomer", "role": "viewer", "password": "newcomer-password"}
        for headers in ({CSRF_HEADER: ""}, {CSRF_HEADER: "wrong"}):
            async with client.session.post(f"{site}{API}/accounts", json=account, headers=headers) as r:
                assert r.status == 403 and "X-CSRF-Token" in (await r.json())["error"]
        assert (await client.post(f"{API}/accounts", account))[0] == 201
        async with client.session.delete(f"{site}{API}/session") as r:  # logout is a change too
            assert r.status == 403
        assert (await client.get(f"{API}/session"))[0] == 200


async def test_a_cross_site_origin_is_refused_even_with_the_token(site: str) -> None:
    login = {"name": "ada", "password": ACCOUNTS["ada"][1]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site}{API}/session", json=login, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403 and SESSION_COOKIE not in r.cookies
        async with http.post(f"{site}{API}/session", json=login, headers={"Origin": site}) as r:
            assert r.status == 200
    async with signed_in(site, "ada") as client:
        body = {"name": "newcomer", "role": "viewer", "password": "newcomer-password"}
        status, answer = await client.post(f"{API}/accounts", body, headers={"Origin": "http://evil.example"})
        assert status == 403 and answer["error"] == "cross-site request refused"
        assert (await client.post(f"{API}/accounts", body, headers={"Origin": site}))[0] == 201


async def test_a_role_too_low_is_refused(site: str) -> None:
    for name in ("vera", "sam"):
        async with signed_in(site, name) as client:
            status, body = await client.post(f"{API}/accounts", {"name": "x1", "role": "admin", "password": "p" * 12})
            assert status == 403 and body["error"] == f"this needs the admin role; {name} is a {ACCOUNTS[name][0]}"
            assert (await client.get(f"{API}/accounts"))[0] == 403


async def test_anonymous_clients_learn_nothing_but_health(site: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/map?zone=tank", "/no-such-page"):
            async with http.get(site + path, allow_redirects=False) as r:
                assert r.status == 302
                assert r.headers["Location"] == str(URL("/login").with_query(next=path))
        for path in (f"{API}/session", f"{API}/no-such-endpoint", "/metrics"):
            async with http.get(site + path, allow_redirects=False) as r:
                assert r.status == 401 and await r.json() == {"error": "not signed in", "details": []}
        async with http.get(f"{site}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{site}/readyz") as r:
            assert r.status in (200, 503)  # public either way
        for path in ("/login", "/static/login.js", "/static/style.css", "/static/siteguard.svg"):
            async with http.get(site + path, allow_redirects=False) as r:
                assert r.status not in (302, 401), path  # the login page may load its own assets


async def test_every_answer_carries_the_security_headers(site: str) -> None:
    async with signed_in(site, "vera") as client:
        for path in ("/healthz", f"{API}/session", f"{API}/accounts", "/no-such-page"):
            async with client.session.get(site + path, allow_redirects=False) as r:
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "same-origin"
                if path.startswith(API):
                    assert r.headers["Cache-Control"] == "no-store"


async def test_every_error_is_a_4xx_with_the_security_headers(site: str) -> None:
    """A body nested too deep, too large, with NaN, and time queries no clock can read: none is a 500."""
    def assert_headers(r: aiohttp.ClientResponse) -> None:
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
        assert r.headers["Server"] == "SiteGuard"

    bodies = {
        b"[" * 20_000 + b"]" * 20_000: (400, "the request body is nested too deeply"),
        b'{"name": "sam", "password": {"a": ' * 40 + b"1" + b"}" * 40: (400, "the request body is nested too deeply"),
        b'{"name": "sam", "password": NaN}': (400, "the request body is not valid JSON"),
        b'{"name": "sam", "password": "' + b"x" * 100_000 + b'"}': (413, "the request body is too large"),
        b"\xff\xfe": (400, "the request body is not valid JSON"),
    }
    async with aiohttp.ClientSession() as http:  # sign-in parses its body with no session
        for body, (status, error) in bodies.items():
            async with http.post(f"{site}{API}/session", data=body, headers={"Content-Type": "application/json"}) as r:
                assert (r.status, (await r.json())["error"]) == (status, error), body[:40]
                assert_headers(r)
    async with signed_in(site, "vera") as client:
        for query in ("since=NaN", "since=nan&until=1800000000", "until=inf", "since=-Infinity", "since=1e300",
                      "since=-5&until=5"):
            for path in ("/history/alarms.csv", "/history/alarms", "/zones/actions", "/reports/exposure?worker=w03"):
                url = f"{site}{API}{path}{'&' if '?' in path else '?'}{query}"
                async with client.session.get(url) as r:
                    assert r.status == 400, url
                    assert "must be a UNIX time" in (await r.json())["error"]
                    assert_headers(r)
        async with client.session.get(f"{site}{API}/history/alarms.csv?since=1800000000&until=1800003600") as r:
            assert r.status == 200  # a real window still answers


async def test_the_server_header_names_no_versions(site: str) -> None:
    async with signed_in(site, "vera") as client:
        for path in ("/healthz", f"{API}/session", "/static/style.css", "/no-such-page", f"{API}/no-such"):
            async with client.session.get(site + path, allow_redirects=False) as r:
                assert r.headers["Server"] == "SiteGuard", path


async def test_an_unexpected_exception_is_a_logged_500_with_the_headers(caplog: pytest.LogCaptureFixture) -> None:
    """Also a stream the handler starts itself gets the headers: they are set as the answer is prepared."""
    @public
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    @public
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"data")
        return response

    app = web.Application()
    install(app, WEB, session_store(DashboardSettings(), FakeClock()))
    app.router.add_get(f"{API}/broken", broken)
    app.router.add_get("/stream", stream)
    async with TestClient(TestServer(app)) as http:
        r = await http.get(f"{API}/broken")
        assert (r.status, await r.json()) == (500, {"error": "internal error", "details": []})
        r2 = await http.get("/stream")
        assert r2.status == 200 and await r2.read() == b"data"
        for answer in (r, r2):
            assert answer.headers["Server"] == "SiteGuard"
            assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert any(rec.levelname == "ERROR" and rec.exc_info and "a bug" in str(rec.exc_info[1]) for rec in caplog.records)


@pytest.mark.parametrize("target", [
    "/\t/127.0.0.1:9/pwned", "/\n/127.0.0.1:9/pwned", "/\r/127.0.0.1:9/pwned", "\\\\evil.example/pwned",
    "/\\evil.example", "\\/evil.example", "//evil.example", "https:evil.example", "https://evil.example/",
    "javascript:alert(1)", "  //evil.example", "\x00//evil.example", "/\t\\evil.example", "%2F%2Fevil.example",
    "evil.example", "",
])
def test_a_next_that_leaves_the_origin_becomes_the_root(target: str) -> None:
    assert safe_next(target, "http://127.0.0.1:8080") == "/"


@pytest.mark.parametrize(("target", "read_as"), [
    ("/", "/"), ("/history?shift=day&date=2026-03-02", "/history?shift=day&date=2026-03-02"),
    ("/map?zone=tank", "/map?zone=tank"), ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
    (" /history\t", "/history"), ("/a\\b", "/a/b"), ("/report/exposure#w03", "/report/exposure#w03"),
])
def test_a_next_on_the_origin_is_kept_as_the_browser_reads_it(target: str, read_as: str) -> None:
    assert safe_next(target, "http://127.0.0.1:8080") == read_as


async def test_the_login_page_is_only_served_with_a_next_on_this_origin(site: str) -> None:
    async with aiohttp.ClientSession() as http:
        for query, location in (("next=%2F%09%2F127.0.0.1%3A9%2Fpwned", "/login?next=/"),
                                ("next=/history%0A", "/login?next=/history"),
                                ("next=/history&next=//evil.example", "/login?next=/history")):
            async with http.get(f"{site}/login?{query}", allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (302, location), query
        for query in ("next=/history", "next=/", ""):
            async with http.get(f"{site}/login?{query}", allow_redirects=False) as r:
                assert r.status == 200, query


async def test_a_metrics_bearer_token_stands_in_for_a_session_only_where_allowed() -> None:
    """The token is checked by the middleware; any handler marked ``metrics_token_ok`` accepts it."""
    token = "scrape-token"

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(text="up 1\n")

    async def other(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    scrape.metrics_token_ok = True  # type: ignore[attr-defined]
    settings = DashboardSettings(metrics_token_sha256=hashlib.sha256(token.encode()).hexdigest())
    app = web.Application(middlewares=[security_middleware(WEB, session_store(settings, FakeClock()),
                                                           metrics_token_sha256=settings.metrics_token_sha256)])
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/other", other)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            for path, auth, status in (("/metrics", f"Bearer {token}", 200), ("/metrics", "Bearer wrong", 401),
                                       ("/metrics", "", 401), ("/other", f"Bearer {token}", 302)):
                async with http.get(base + path, headers={"Authorization": auth}, allow_redirects=False) as r:
                    assert r.status == status, (path, auth)
    finally:
        await runner.cleanup()

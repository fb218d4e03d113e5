"""How the pages and their assets are served (no browser needed), and static checks that the
page's files keep to the Content-Security-Policy and load nothing from outside the daemon."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge_runtime.dashboard.keys import PUBLIC_STATIC
from edge_runtime.dashboard.pages import PAGES, STATIC_DIR, register_pages
from edge_runtime.dashboard.roles import Role
from tests.broker import Mosquitto
from tests.dashboard.harness import dashboard_site, signed_in
from tests.page_checks import page_problems, page_refs, script_problems
from web_common.api import required_role
from web_common.assets import COMMON_DIR, COMMON_ROUTE, CONTENT_TYPES

HTML = sorted(STATIC_DIR.glob("*.html"))
SCRIPTS = sorted(STATIC_DIR.glob("*.js"))


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    """The pages alone on an app (no security middleware): what pages.py itself answers."""
    app = web.Application()
    register_pages(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_pages_are_html_and_not_cached(client: TestClient) -> None:
    for route, filename in PAGES.items():
        r = await client.get(route)
        assert r.status == 200, route
        assert r.content_type == "text/html" and r.charset == "utf-8"
        assert r.headers["Cache-Control"] == "no-store"
        assert await r.read() == (STATIC_DIR / filename).read_bytes()


async def test_assets_have_their_type_an_etag_and_revalidate(client: TestClient) -> None:
    for path in STATIC_DIR.iterdir():
        if path.suffix not in CONTENT_TYPES:
            continue
        r = await client.get(f"/static/{path.name}")
        assert r.status == 200, path.name
        assert r.headers["Content-Type"] == CONTENT_TYPES[path.suffix]
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert await r.read() == path.read_bytes()
        etag = r.headers["ETag"]
        again = await client.get(f"/static/{path.name}", headers={"If-None-Match": etag})
        assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
    assert (await client.get("/static/app.js")).headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (await client.get("/static/alarm.wav")).headers["Content-Type"] == "audio/wav"


async def test_a_changed_asset_gets_a_new_etag(tmp_path: Path) -> None:
    (tmp_path / "x.js").write_text("export const a = 1;\n")
    app = web.Application()
    register_pages(app, static_dir=tmp_path)
    async with TestClient(TestServer(app)) as c:
        first = (await c.get("/static/x.js")).headers["ETag"]
        (tmp_path / "x.js").write_text("export const a = 22;\n")
        r = await c.get("/static/x.js", headers={"If-None-Match": first})
        assert r.status == 200 and r.headers["ETag"] != first and await r.text() == "export const a = 22;\n"


@pytest.mark.parametrize("name", [
    "nope.js", "index.html", "__init__.py", "..%2Fpages.py", ".hidden.js", "style.css.bak", "a b.js",
])
async def test_only_known_kinds_of_existing_assets_are_served(client: TestClient, name: str) -> None:
    assert (await client.get(f"/static/{name}")).status == 404


async def test_only_the_login_page_and_the_shared_modules_are_public() -> None:
    """The shared browser modules hold no data; everything of the dashboard's own needs a session."""
    app = web.Application()
    register_pages(app)
    roles = {r.resource.canonical: required_role(r.handler, Role.VIEWER)
             for r in app.router.routes() if r.method == "GET"}
    public = {"/login", COMMON_ROUTE + "{name}"}
    assert all(roles[path] is None for path in public)
    assert all(role is not None for path, role in roles.items() if path not in public), roles


async def test_served_by_the_daemon_behind_its_security(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "gps_loss.yaml") as (_site, _daemon, base):
        async with aiohttp.ClientSession() as anon:
            # a browser without a session is sent to the login form, which needs only public assets
            async with anon.get(f"{base}/history?shift=day", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"].startswith("/login?next=/history")
            async with anon.get(f"{base}/login") as r:
                assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
                login = await r.text()
            for asset in PUBLIC_STATIC:
                async with anon.get(f"{base}{asset}") as r:
                    assert r.status == 200, asset
            assert set(_assets(login)) <= PUBLIC_STATIC, _assets(login)
            async with anon.get(f"{base}/static/app.js", allow_redirects=False) as r:
                assert r.status in (302, 401)
        async with signed_in(base, "vera") as viewer:
            for route in PAGES:
                status, body = await viewer.get(route)
                assert status == 200 and body.startswith(b"<!doctype html>"), route
            status, _ = await viewer.get("/static/app.js")
            assert status == 200


# -- static checks of the page files -------------------------------------------------------------

def _assets(html: str) -> list[str]:
    return [ref for ref in page_refs(html)[1] if ref.startswith("/static/")]


@pytest.mark.parametrize("page", HTML, ids=lambda p: p.name)
def test_pages_keep_to_the_csp_and_load_only_local_assets(page: Path) -> None:
    assert page_problems(page, "/static/", STATIC_DIR) == []


def test_login_page_needs_only_the_public_assets() -> None:
    assert set(_assets((STATIC_DIR / "login.html").read_text())) <= PUBLIC_STATIC


@pytest.mark.parametrize("script", SCRIPTS + sorted(COMMON_DIR.glob("*.js")), ids=lambda p: p.name)
def test_scripts_need_no_eval_inline_styles_or_remote_code(script: Path) -> None:
    assert script_problems(script) == []
    if script.name == "login.js":
        assert not re.search(r"^\s*import\b", script.read_text(), re.MULTILINE), \
            "login.js must stand alone: before signing in only it, style.css and the logo load"


def test_the_alarm_tone_is_what_its_script_makes(tmp_path: Path) -> None:
    """static/alarm.wav is generated by tools/make_alarm_sound.py (standard library only, reproducible)."""
    import importlib.util
    import wave

    script = Path(__file__).resolve().parents[3] / "tools" / "make_alarm_sound.py"
    spec = importlib.util.spec_from_file_location("make_alarm_sound", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.write(tmp_path / "alarm.wav")
    assert made.read_bytes() == (STATIC_DIR / "alarm.wav").read_bytes()
    with wave.open(str(made)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
        assert 0.5 < w.getnframes() / w.getframerate() < 2.0

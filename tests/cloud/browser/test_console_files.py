"""How the console's files are served (no browser needed), and static checks that they keep to the
Content-Security-Policy and load nothing from outside the service."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cloud_sync.service.console import STATIC, register_console
from cloud_sync.service.keys import CONSOLE
from tests.page_checks import page_problems, script_problems
from web_common.api import required_role
from web_common.assets import COMMON_DIR, CONTENT_TYPES

SCRIPTS = sorted(STATIC.glob("*.js"))


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application()
    register_console(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_the_page_its_assets_and_the_shared_modules_are_served(client: TestClient) -> None:
    page = await client.get(CONSOLE)
    assert page.status == 200 and page.content_type == "text/html" and page.headers["Cache-Control"] == "no-store"
    assert await page.read() == (STATIC / "index.html").read_bytes()
    for folder, route in ((STATIC, CONSOLE), (COMMON_DIR, "/common/")):
        for path in folder.iterdir():
            if path.suffix not in CONTENT_TYPES:
                continue
            r = await client.get(route + path.name)
            assert r.status == 200 and r.headers["Content-Type"] == CONTENT_TYPES[path.suffix], path
            assert r.headers["Cache-Control"] == "no-cache" and await r.read() == path.read_bytes()
            again = await client.get(route + path.name, headers={"If-None-Match": r.headers["ETag"]})
            assert again.status == 304


@pytest.mark.parametrize("name", ["nope.js", "__init__.py", "..%2Fconsole.py", ".hidden.js", "a b.js"])
async def test_only_existing_assets_of_known_kinds(client: TestClient, name: str) -> None:
    assert (await client.get(CONSOLE + name)).status == 404


def test_every_console_route_is_public() -> None:
    """The page holds no data: it signs in and reads the API, which checks every call."""
    app = web.Application()
    register_console(app)
    assert all(required_role(r.handler, object()) is None for r in app.router.routes())


def test_the_page_keeps_to_the_csp_and_loads_only_its_own_assets() -> None:
    assert page_problems(STATIC / "index.html", CONSOLE, STATIC) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_need_no_eval_inline_styles_or_remote_code(script: Path) -> None:
    assert script_problems(script) == []

"""After sign-in the login page goes to its ``?next=``: in a real Chromium, no ``next`` leaves the dashboard.

The browser cleans a URL before it follows it (WHATWG: tab, LF and CR vanish,
``\\`` is ``/``), so ``/<tab>/host`` is ``//host``, another site. A second
server stands in for that site on another port of 127.0.0.1 and counts
every request that reaches it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from aiohttp import web

from tests.broker import Mosquitto
from tests.dashboard.harness import ACCOUNTS, dashboard_site

#: ?next= values, before URL encoding; EVIL is the other site's host:port
PAYLOADS = (
    "/\t/EVIL/pwned", "/\n/EVIL/pwned", "/\r/EVIL/pwned", "\\\\EVIL/pwned", "/\\EVIL/pwned", "%2F%2FEVIL/pwned",
    "https:EVIL/pwned", "http://EVIL/pwned", "  //EVIL/pwned", "\t/\\EVIL/pwned",
)


async def test_no_next_takes_the_browser_off_the_dashboard(tmp_path: Path, mosquitto: Mosquitto, browser: Any) -> None:
    hits: list[str] = []

    async def evil(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(text="pwned")

    other_site = web.Application()
    other_site.router.add_get("/{tail:.*}", evil)
    runner = web.AppRunner(other_site)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    evil_host = f"127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with dashboard_site(tmp_path, mosquitto.port) as (_, __, base):
            origin = urlsplit(base)[:2]
            for payload in PAYLOADS:
                target = payload.replace("EVIL", evil_host)
                context = await browser.new_context()
                try:
                    page = await context.new_page()
                    page.set_default_timeout(15_000)
                    await page.goto(f"{base}/login?next={quote(target, safe='')}")
                    await page.fill("#login-name", "vera")
                    await page.fill("#login-password", ACCOUNTS["vera"][1])
                    await page.click("#login-submit")
                    await page.wait_for_url(lambda url: urlsplit(url).path != "/login", wait_until="commit")
                    assert urlsplit(page.url)[:2] == origin, (payload, page.url)
                    assert urlsplit(page.url).path == "/", (payload, page.url)
                finally:
                    await context.close()
    finally:
        await runner.cleanup()
    assert hits == []

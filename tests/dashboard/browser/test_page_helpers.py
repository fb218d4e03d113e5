"""The page's own helpers (static/util.js), run in Chromium: site-local time across a DST change
and DOM building that never parses data as HTML. Only the pages are served (no daemon)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_runtime.dashboard.pages import register_pages

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")


@pytest.fixture
async def util_page(browser: Any) -> AsyncIterator[Any]:
    app = web.Application()
    register_pages(app)
    async with TestServer(app) as server:
        page = await browser.new_page()
        await page.goto(str(server.make_url("/login")))
        await page.evaluate("async () => { window.util = await import('/static/util.js'); }")
        yield page
        await page.close()


async def test_site_local_times_round_trip_across_dst(util_page: Any) -> None:
    out = await util_page.evaluate("""() => {
      const u = window.util;
      u.setTimeZone("Europe/Amsterdam");
      const cases = ["2026-03-29T01:30", "2026-03-29T03:30", "2026-10-25T01:30", "2026-07-01T12:00", "2026-12-31T23:59"];
      return {
        tz: u.timeZone(),
        utc: cases.map((c) => new Date(u.fromLocalInput(c) * 1000).toISOString().slice(0, 16)),
        back: cases.map((c) => u.localInput(u.fromLocalInput(c))),
        clock: u.clockTime(Date.UTC(2026, 6, 1, 10, 0, 5) / 1000),
        date: u.isoDate(Date.UTC(2026, 11, 31, 23, 30) / 1000),
        bad: u.fromLocalInput("yesterday"),
        unknown: (u.setTimeZone("Not/AZone"), u.timeZone()),
      };
    }""")
    assert out["tz"] == "Europe/Amsterdam"
    # CET (+1) before 29 March 02:00, CEST (+2) after; back to CET on 25 October at 03:00
    assert out["utc"] == ["2026-03-29T00:30", "2026-03-29T01:30", "2026-10-24T23:30", "2026-07-01T10:00",
                          "2026-12-31T22:59"]
    assert out["back"] == ["2026-03-29T01:30", "2026-03-29T03:30", "2026-10-25T01:30", "2026-07-01T12:00",
                           "2026-12-31T23:59"]
    assert out["clock"] == "12:00:05"
    assert out["date"] == "2027-01-01"
    assert out["bad"] is None
    assert out["unknown"] == "UTC"


async def test_dom_builder_treats_data_as_text(util_page: Any) -> None:
    out = await util_page.evaluate("""() => {
      const el = window.util.h("div.row#r1", { dataset: { alarmId: "a1" }, title: "<b>t</b>" },
        "<img src=x onerror=alert(1)>", window.util.h("span.x", "ok"));
      return { html: el.outerHTML, text: el.textContent, imgs: el.querySelectorAll("img").length };
    }""")
    assert out["imgs"] == 0
    assert out["text"] == "<img src=x onerror=alert(1)>ok"
    assert 'data-alarm-id="a1"' in out["html"] and 'id="r1"' in out["html"] and 'class="row"' in out["html"]

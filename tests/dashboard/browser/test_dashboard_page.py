"""The dashboard in a real browser against the real daemon, simulator and Mosquitto.

Three sites, one per test (each starts its own):

* an H2S leak handled by a supervisor: the login form (a wrong password first),
  the alarm row within 1 s of the raise, the alarm tone, acknowledge with a
  verdict and note (then found on the broker and in SQLite), shelve with a
  reason and its expiry, a verdict after an ack, a two-click zone action (and
  a confirmation left to run out), the history of the shift with its CSV and
  the printable exposure report;
* a lost GPS fix watched by a viewer: the stale worker greyed with its age, the
  worker card, no action buttons anywhere, signing out;
* the full demo: flood grouping and banner, camera tiles (offline in plain
  words), the layout at desktop and tablet sizes with screenshots, and the
  live-data-stale banner when the event stream stops and comes back.

Every test also fails on any console error, warning or CSP violation it did
not cause on purpose.
"""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.async_api import Page, Route, expect

from edge_runtime.alarms.model import AlarmState
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.keys import API, DASHBOARD
from edge_runtime.dashboard.live import LiveHub
from edge_runtime.demo import CONTROL_ROOM
from tests.broker import Mosquitto, Subscriber
from tests.browser import Console, attach_console
from tests.browser_layout import LAYOUT, layout_problems
from tests.dashboard.harness import ACCOUNTS, dashboard_site, eventually_async, signed_in
from edge_runtime.mqtt.topics import Topics
from tests.e2e.harness import payload, topic

DESKTOP = {"width": 1440, "height": 900}
TABLET_LANDSCAPE = {"width": 1024, "height": 768}
TABLET_PORTRAIT = {"width": 768, "height": 1024}
GREY_DOT = "rgb(163, 171, 181)"  # .worker.stale .worker-dot in style.css

#: records, in the page, when each alarm row first appears (seconds, the machine's clock)
WATCH_ROWS = """() => {
  window.__seen = {};
  const mark = () => {
    for (const li of document.querySelectorAll("li.alarm[data-alarm-id]")) {
      if (!(li.dataset.alarmId in window.__seen)) window.__seen[li.dataset.alarmId] = Date.now() / 1000;
    }
  };
  mark();
  new MutationObserver(mark).observe(document.getElementById("alarm-list"), { childList: true, subtree: true });
  return Date.now() / 1000;
}"""

#: what the layout rules of tests/browser_layout.py measure on the live page
LIVE_LAYOUT = {
    "blocks": "main > .panel", "header": ".topbar > *",
    "cells": ".alarm-head, .alarm-title, .alarm-msg, .alarm-meta, .alarm-ack, .alarm-shelved, .flood-summary, "
             ".alarm-btn, .worker-open, .zone-info, .zone-btn, .zone-log-item, .camera-caption, .camera-status, "
             ".panel-head, .legend, .banner, .topbar > *",
    "targets": "button, .topnav a, .btn",
}


# -- helpers --------------------------------------------------------------------------------------

async def open_page(browser: Any, viewport: dict[str, int] = DESKTOP) -> tuple[Page, Console]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page, attach_console(page, asyncio.get_running_loop().time)


async def sign_in(page: Page, base_url: str, name: str) -> None:
    """Opens the live page, is sent to the login form, signs in there and comes back."""
    await page.goto(f"{base_url}/")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2F$|/login\?next=/$"))
    await page.fill("#login-name", name)
    await page.fill("#login-password", ACCOUNTS[name][1])
    await page.click("#login-submit")
    await expect(page).to_have_url(f"{base_url}/")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#user")).to_contain_text(name.title())


async def reveal(page: Page, alarm_id: str) -> None:
    """Opens the flood group an alarm row may be folded into."""
    await page.evaluate("""(id) => {
      const li = document.querySelector(`li.alarm[data-alarm-id="${id}"]`);
      const details = li && li.closest("details");
      if (details) details.open = true;
    }""", alarm_id)


def topics_of(site: Any) -> Topics:
    return Topics(site.config.site.id)


def alarm_of(daemon: EdgeDaemon, subject: str, kind_prefix: str, kind: str | None = None) -> Any:
    for a in daemon.alarms.active():
        if str(a.subject) == subject and a.kind.value.startswith(kind_prefix) and (kind is None or a.kind.value == kind):
            return a
    return None


def assert_quiet(console: Console, allowed: Any = None) -> None:
    """No console errors or warnings (CSP violations are errors), no uncaught exceptions."""
    assert console.page_errors == [], console.page_errors
    assert console.errors(allowed) == [], console.errors(allowed)


# -- a supervisor handles an H2S leak --------------------------------------------------------------

async def test_supervisor_handles_a_gas_alarm_from_the_page(tmp_path: Path, mosquitto: Mosquitto, browser: Any) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("alarms", "#")]) as sub:
        async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=False) as (site, daemon, base):
            page, console = await open_page(browser)

            # the login form: a wrong password is refused in plain words, then the right one gets in
            await page.goto(f"{base}/login")
            await page.fill("#login-name", "sam")
            await page.fill("#login-password", "not-the-password")
            await page.click("#login-submit")
            await expect(page.locator("#login-error")).to_be_visible()
            await expect(page.locator("#login-error")).to_contain_text("Wrong name or password")
            await expect(page).to_have_url(re.compile(r"/login"))
            await sign_in(page, base, "sam")
            await expect(page.locator("#sound-toggle")).to_have_text("Sound: on")

            # the leak starts only now, so every alarm row is timed from its raise
            watching_since = await page.evaluate(WATCH_ROWS)
            site.play()
            w03 = await eventually_async(lambda: _async(alarm_of(daemon, "worker:w03", "gas_")), 20, "w03 gas alarm")
            row = page.locator(f'li.alarm[data-alarm-id="{w03.alarm_id}"]')
            await expect(row).to_be_attached()
            seen = await page.evaluate("(id) => window.__seen[id]", w03.alarm_id)
            assert w03.raised_ts > watching_since
            assert seen - w03.raised_ts < 1.0, f"row shown {seen - w03.raised_ts:.2f} s after the alarm was raised"

            # a high alarm sounds (autoplay is allowed in this browser: the play() must have been tried and run)
            await expect(page.locator("html")).to_have_attribute("data-alarm-sound-attempts", re.compile(r"^[1-9]\d*$"),
                                                                 timeout=20_000)
            await expect(page.locator("html")).to_have_attribute("data-alarm-sound", re.compile("playing|played"))

            # acknowledge w03's alarm once it is high (an escalation would ask for a new acknowledgement)
            await eventually_async(lambda: _async(alarm_of(daemon, "worker:w03", "gas_", "gas_high")), 20, "w03 gas high")
            await reveal(page, w03.alarm_id)
            await expect(row).to_have_attribute("data-kind", "gas_high")
            await row.locator("button[data-action=ack]").click()
            form = row.locator("form[data-form=ack]")
            await form.locator("input[name=verdict][value=confirmed]").check()
            await form.locator("textarea[name=note]").fill("Entrants out, tank ventilated")
            await form.locator("button[type=submit]").click()
            await expect(row.locator(".alarm-ack")).to_contain_text("Acknowledged by sam")
            await expect(row.locator(".alarm-ack")).to_contain_text("Confirmed")
            await expect(form).to_have_count(0)
            await expect(row.locator("button[data-action=ack]")).to_have_count(0)

            # ... and the ack is on the broker and in SQLite, under the supervisor's name
            acked = await sub.wait_for_async(
                lambda m: m.topic == topic("alarms", w03.alarm_id) and bool(m.payload)
                and payload(m).get("acked_by") == "sam" and payload(m).get("verdict") == "confirmed", timeout=10)
            assert payload(acked)["state"] in (AlarmState.ACKED.value, AlarmState.NORMAL.value)
            assert daemon.store.flush(5)
            db = sqlite3.connect(site.config.storage.path)
            try:
                verdicts = db.execute('SELECT verdict, "by", note FROM verdicts WHERE alarm_id=?', (w03.alarm_id,)).fetchall()
                assert verdicts == [("confirmed", "sam", "Entrants out, tank ventilated")]
                acks = db.execute('SELECT "by", note FROM transitions WHERE alarm_id=? AND cause=?',
                                  (w03.alarm_id, "acknowledged")).fetchall()
                assert acks == [("sam", "Entrants out, tank ventilated")]
            finally:
                db.close()

            # shelve w04's alarm: a reason is required; then it shows shelved, by whom and until when
            w04 = await eventually_async(lambda: _async(alarm_of(daemon, "worker:w04", "gas_", "gas_high")), 20,
                                         "w04 gas high")
            await reveal(page, w04.alarm_id)
            row4 = page.locator(f'li.alarm[data-alarm-id="{w04.alarm_id}"]')
            await row4.locator("button[data-action=shelve]").click()
            shelve = row4.locator("form[data-form=shelve]")
            await expect(shelve.locator("select[name=duration] option")).to_have_text(["15 min", "1 h", "4 h", "8 h"])
            await shelve.locator("button[type=submit]").click()
            await expect(shelve.locator(".form-error")).to_contain_text("reason is required")
            await shelve.locator("select[name=duration]").select_option(label="1 h")
            await shelve.locator("input[name=reason]").fill("Valve isolated, entrants out")
            await shelve.locator("button[type=submit]").click()
            await expect(row4).to_have_attribute("data-state", "shelved")
            await expect(row4.locator(".alarm-shelved")).to_contain_text("Shelved by sam until")
            await expect(row4.locator(".alarm-shelved")).to_contain_text("Valve isolated, entrants out")
            await expect(row4.locator("button[data-action=unshelve]")).to_be_visible()
            shelved = daemon.alarms.get(w04.alarm_id)
            assert shelved.shelved_by == "sam" and shelved.shelve_reason == "Valve isolated, entrants out"
            assert 3590 < shelved.shelved_until - time.time() <= 3600

            # the shelve runs out (the engine's clock driven past it): the page shows it back, live
            assert shelved.shelved_until is not None
            daemon.alarms.tick(shelved.shelved_until + 1)
            await expect(row4).to_have_attribute("data-state", AlarmState.UNACK.value)
            await expect(row4.locator(".alarm-shelved")).to_have_count(0)
            await expect(row4.locator("button[data-action=shelve]")).to_be_visible()

            # acknowledged without a verdict, the verdict can follow: here, a false alarm
            await row4.locator("button[data-action=ack]").click()
            await row4.locator("form[data-form=ack] button[type=submit]").click()
            await expect(row4.locator(".alarm-ack")).to_contain_text("Acknowledged by sam")
            await row4.locator("button[data-action=verdict]").click()
            verdict = row4.locator("form[data-form=verdict]")
            await verdict.locator("input[name=verdict][value=false_alarm]").check()
            await verdict.locator("textarea[name=note]").fill("Sensor splashed during cleaning")
            await verdict.locator("button[type=submit]").click()
            await expect(row4.locator(".alarm-ack")).to_contain_text("False alarm")
            await expect(row4.locator("button[data-action=verdict]")).to_have_count(0)
            assert daemon.alarms.get(w04.alarm_id).verdict is not None

            # an acknowledgement from the control room's MQTT console shows where it came from
            other = next(a for a in daemon.alarms.active()
                         if a.state is AlarmState.UNACK and a.alarm_id not in (w03.alarm_id, w04.alarm_id))
            await reveal(page, other.alarm_id)
            sub.publish(topic("alarms", other.alarm_id, "ack", CONTROL_ROOM), b"{}")
            row5 = page.locator(f'li.alarm[data-alarm-id="{other.alarm_id}"]')
            await expect(row5.locator(".alarm-ack")).to_contain_text(f"Acknowledged by {CONTROL_ROOM} (via MQTT console)")

            # a zone action takes two clicks; the first only asks, and asking runs out after 5 s
            async with signed_in(base, "sam") as api:
                zone = page.locator('li.zone-item[data-zone="elec-room"]')
                evacuate = zone.locator("button[data-action=evacuate]")
                await evacuate.click()
                await expect(evacuate).to_have_text("Confirm evacuate zone Substation electrical room?")
                status, listed = await api.get(f"{API}/zones/actions")
                assert status == 200 and not [a for a in listed["actions"] if a["zone"] == "elec-room"]
                await evacuate.click()
                entry = page.locator('#zone-log li[data-action=evacuate][data-zone="elec-room"]')
                await expect(entry).to_contain_text("by sam")
                await expect(evacuate).to_have_text("Evacuate")
                await expect(zone).to_have_class(re.compile(r"\bevacuating\b"))
                await expect(page.locator('#site-map g.zone[data-zone="elec-room"]')).to_have_class(re.compile(r"\bevacuating\b"))
                status, listed = await api.get(f"{API}/zones/actions")
                mine = [a for a in listed["actions"] if a["zone"] == "elec-room"]
                assert [(a["action"], a["by"]) for a in mine] == [("evacuate", "sam")]

                clear = zone.locator("button[data-action=all_clear]")
                await clear.click()
                await expect(clear).to_have_text("Confirm all clear for zone Substation electrical room?")
                await expect(clear).to_have_text("All clear", timeout=7_000)  # not confirmed in 5 s: disarmed
                status, listed = await api.get(f"{API}/zones/actions")
                assert [a["action"] for a in listed["actions"] if a["zone"] == "elec-room"] == ["evacuate"]
                await clear.click()
                await clear.click()
                await expect(page.locator('#zone-log li[data-action=all_clear][data-zone="elec-room"]')).to_contain_text("by sam")

            # the history of this shift: the acknowledged alarm with its verdict and transitions, a filter,
            # the CSV export of the same query and a printable exposure report
            await page.click(".topnav a[href='/history']")
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            hist = page.locator(f'#history-rows tr[data-alarm-id="{w03.alarm_id}"]')
            await expect(hist).to_contain_text("Chloe Martin (w03)")
            await expect(hist).to_contain_text("Confirmed")
            await hist.locator("details.transitions summary").click()
            await expect(hist.locator('li[data-cause="acknowledged"]')).to_contain_text("by sam")
            await expect(hist.locator('li[data-cause="acknowledged"]')).to_contain_text("Entrants out, tank ventilated")
            await page.select_option("#verdict", "confirmed")
            await page.click("#history-form button[type=submit]")
            await expect(page.locator("#history-rows tr")).to_have_count(1)
            await expect(page).to_have_url(re.compile(r"verdict=confirmed"))
            href = await page.get_attribute("#csv-link", "href")
            assert href and href.startswith(f"{API}/history/alarms.csv?") and "verdict=confirmed" in href
            csv = await page.request.get(f"{base}{href}")
            assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
            assert w03.alarm_id in await csv.text()
            link = page.locator('a.report-link[data-worker="w03"]')
            assert await link.get_attribute("target") == "_blank"
            async with page.context.expect_page() as opened:
                await link.click()
            report = await opened.value
            attach_console(report, asyncio.get_running_loop().time, console)
            await expect(report.locator("body")).to_have_attribute("data-ready", "true")
            await expect(report.locator("#report-title")).to_have_text("Gas exposure report — Chloe Martin")
            h2s = report.locator('#report-rows tr[data-gas="H2S"]')
            # (values only once a whole minute of readings is stored; the limits always)
            await expect(h2s.locator("[data-measure=TWA]")).to_contain_text(re.compile(r"(/|limit) 1 ppm"))
            await expect(h2s.locator("[data-measure=STEL]")).to_contain_text(re.compile(r"(/|limit) 5 ppm"))
            await report.emulate_media(media="print")
            await expect(report.locator(".topbar")).to_be_hidden()
            await expect(report.locator("#print")).to_be_hidden()
            await expect(report.locator("#report-rows")).to_be_visible()
            await report.close()

            # the only error of the session: the refused login's 401
            assert_quiet(console, lambda m: "401" in m["text"] and m["url"].endswith(f"{API}/session"))
            assert len(console.errors()) == 1


# -- a viewer watches a lost GPS fix ---------------------------------------------------------------

async def test_viewer_sees_a_stale_worker_greyed_and_no_action_buttons(
    tmp_path: Path, mosquitto: Mosquitto, browser: Any
) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "gps_loss.yaml", play=True) as (site, daemon, base):
        page, console = await open_page(browser, TABLET_LANDSCAPE)
        await sign_in(page, base, "vera")
        assert await page.locator("body").get_attribute("data-role") == "viewer"

        # w03's fix is lost at 2 s: their marker greys out with its age, others stay live
        marker = page.locator('#site-map g.worker[data-worker="w03"]')
        await expect(marker).to_have_attribute("data-stale", "true", timeout=20_000)
        await expect(marker.locator("text.worker-label")).to_have_text(re.compile(r"^Chloe · stale \d+ s$"))
        await expect(marker.locator("circle.worker-dot")).to_have_css("fill", GREY_DOT)
        live = page.locator('#site-map g.worker[data-stale="false"]')
        await expect(live.first).to_be_attached()
        await expect(live.first.locator("circle.worker-dot")).not_to_have_css("fill", GREY_DOT)
        await expect(page.locator('#worker-list li[data-worker="w03"] .fresh')).to_have_text(re.compile(r"stale \d+ s"))

        # clicking the worker on the map opens their card
        await marker.click()
        card = page.locator("#worker-card")
        await expect(card).to_be_visible()
        await expect(card).to_have_attribute("data-worker", "w03")
        await expect(card.locator(".card-title")).to_contain_text("Chloe Martin")
        await expect(card).to_contain_text("STALE")
        await expect(card.locator(".gas-list li.gas")).not_to_have_count(0)
        await expect(card.locator(".bar-row[data-measure=stel]").first).to_be_visible()
        await expect(card.locator("svg.spark").first).to_be_attached()

        # the no-position alarm is listed, with nothing a viewer could press
        no_pos = await eventually_async(lambda: _async(alarm_of(daemon, "worker:w03", "no_position")), 20,
                                        "no-position alarm")
        await reveal(page, no_pos.alarm_id)
        await expect(page.locator(f'li.alarm[data-alarm-id="{no_pos.alarm_id}"]')).to_be_visible()
        await expect(page.locator("#alarm-list button")).to_have_count(0)
        await expect(page.locator("#alarm-list form")).to_have_count(0)
        await expect(page.locator("#zone-list button")).to_have_count(0)
        await expect(page.locator("#zone-list .zone-item")).to_have_count(len(site.config.zones))
        assert_quiet(console)

        # a wearable floods its telemetry topic: the overload policy coalesces its heart rate (newest wins),
        # the page says so within a poll, and the no-position alarm is still there
        await expect(page.locator("#load-banner")).to_be_hidden()
        wearable = next(w.wearable for w in site.config.workers if w.wearable)
        with Subscriber(mosquitto.host, mosquitto.port, [topic("load-test")]) as pub:
            for bpm in range(60, 160):
                pub.publish(topics_of(site).wearable_telemetry(wearable), json.dumps({"hr": bpm}).encode(), qos=0)
        banner = page.locator("#load-banner")
        await expect(banner).to_be_visible(timeout=12_000)
        await expect(banner).to_contain_text(re.compile(r"\d+ (routine )?readings"))
        await expect(banner).to_contain_text("telemetry.routine")
        load = await page.evaluate("() => fetch('/api/v1/load').then((r) => r.json())")
        assert load["shedding"] and all(q["shed"] == 0 for q in load["queues"] if q["kind"] == "events")
        assert daemon.readiness()["load"]["shedding"] is True  # type: ignore[index]
        await expect(page.locator(f'li.alarm[data-alarm-id="{no_pos.alarm_id}"]')).to_be_visible()
        assert_quiet(console)

        # signing out ends the session: the live page sends the browser back to the login form
        await page.click("#logout")
        await expect(page).to_have_url(re.compile(r"/login$"))
        await page.goto(f"{base}/")
        await expect(page).to_have_url(re.compile(r"/login\?next="))


# -- the demo: flood, cameras, layout, stale banner ------------------------------------------------

def tiny_png(width: int = 16, height: int = 9) -> bytes:
    """A small valid PNG (grey), standing in for an annotated camera frame."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def test_demo_layout_flood_cameras_and_stale_banner(
    tmp_path: Path, mosquitto: Mosquitto, browser: Any, screenshots: Path
) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "demo.yaml", play=True) as (_site, daemon, base):
        page, console = await open_page(browser, DESKTOP)

        # the harness site has no cameras: the page is given two (one offline) and a frame
        frames: list[str] = []
        cameras = {"cameras": [
            {"id": "cam-gate", "name": "Gate camera", "online": True, "reason": "", "model": "ppe-yolo",
             "model_version": "3", "backend": "onnx", "frames": 10, "frame_ts": time.time()},
            {"id": "cam-tank", "name": "Tank 2 camera", "online": False, "reason": "RTSP stream timed out",
             "frames": 0, "frame_ts": None},
        ]}

        async def camera_list(route: Route) -> None:
            await route.fulfill(status=200, content_type="application/json", body=json.dumps(cameras))

        async def frame(route: Route) -> None:
            frames.append(route.request.url)
            await route.fulfill(status=200, content_type="image/png", body=tiny_png())

        await page.route(re.compile(r".*/api/v1/cameras$"), camera_list)
        await page.route(re.compile(r".*/api/v1/cameras/[^/]+/frame\.jpg\?.*"), frame)
        await sign_in(page, base, "sam")

        offline = page.locator('li.camera-tile[data-camera="cam-tank"]')
        await expect(offline.locator(".camera-status")).to_contain_text("CAMERA OFFLINE")
        await expect(offline.locator(".camera-status")).to_contain_text("RTSP stream timed out")
        online = page.locator('li.camera-tile[data-camera="cam-gate"]')
        await expect(online.locator("img.camera-frame")).to_be_visible()
        await eventually_async(lambda: _async(len(set(frames)) >= 3), 8, "the frame refreshed every 2 s")
        assert all("cam-gate" in url and "?t=" in url for url in frames)

        # the flood: one folded row with its count, the banner, most urgent first
        group = page.locator("li.flood-group").first
        await expect(group).to_be_attached(timeout=45_000)
        await expect(page.locator("#flood-banner")).to_be_visible()
        await expect(page.locator("#flood-banner")).to_contain_text("ALARM FLOOD")
        await expect(group).to_have_attribute("data-count", re.compile(r"^([2-9]|\d\d+)$"), timeout=20_000)
        members = group.locator("li.alarm")
        await expect(members.first).to_be_hidden()  # folded
        shown = await group.evaluate("""(g) => ({count: g.dataset.count, rows: g.querySelectorAll("li.alarm").length,
                                                 badge: g.querySelector(".flood-count").textContent})""")
        assert shown["badge"] == shown["count"] == str(shown["rows"]), shown
        await group.locator("summary").click()
        await expect(members.first).to_be_visible()
        ranks = await page.evaluate("""() => [...document.querySelectorAll("#alarm-list > li")]
          .map((li) => ({critical: 4, high: 3, medium: 2, low: 1})[li.dataset.priority])""")
        assert ranks == sorted(ranks, reverse=True), ranks

        # the layout: desktop, tablet landscape, tablet portrait
        for name, viewport in (("desktop", DESKTOP), ("tablet-landscape", TABLET_LANDSCAPE),
                               ("tablet-portrait", TABLET_PORTRAIT)):
            await page.set_viewport_size(viewport)
            await page.wait_for_timeout(400)  # the map redraws its symbols for the new size
            layout = await page.evaluate(LAYOUT, LIVE_LAYOUT)
            await page.screenshot(path=str(screenshots / f"live-{name}.png"), full_page=True)
            assert len(layout["blocks"]) == 5, (name, layout)
            assert layout_problems(layout) == {}, (name, layout)
            assert await page.locator("li.alarm").count() > 10, name
        assert len(list(screenshots.glob("live-*.png"))) == 3
        await page.set_viewport_size(DESKTOP)

        # the live stream stops (and cannot come back): the page says so and greys the map
        outage = asyncio.get_running_loop().time()

        async def refuse(route: Route) -> None:
            await route.abort()

        await page.route(re.compile(r".*/api/v1/events$"), refuse)
        assert daemon.http.app is not None
        dashboard = daemon.http.app[DASHBOARD]
        old_hub, dashboard.live = dashboard.live, LiveHub(daemon, dashboard.settings)
        await old_hub.close()  # ends the page's stream; new ones go to the new hub
        banner = page.locator("#stale-banner")
        await expect(banner).to_be_visible(timeout=12_000)
        await expect(banner).to_have_text(re.compile(r"Live data stale since \d\d:\d\d:\d\d — reconnecting"))
        await expect(page.locator("body")).to_have_class(re.compile(r"\blive-stale\b"))
        assert "grayscale" in await page.locator("#site-map").evaluate("(m) => getComputedStyle(m).filter")
        await expect(page.locator("#live-state")).to_contain_text("Stale")

        # ... and when it comes back, the banner goes and the snapshots are fetched again
        await page.unroute(re.compile(r".*/api/v1/events$"))
        await expect(banner).to_be_hidden(timeout=15_000)
        await expect(page.locator("body")).not_to_have_class(re.compile(r"\blive-stale\b"))
        await expect(page.locator("#live-state")).to_contain_text("Live")
        assert int(await page.evaluate("document.documentElement.dataset.liveOpens")) >= 2

        # only the refused stream reconnections (on purpose) may have logged errors
        assert_quiet(console, lambda m: m["t"] >= outage and "ERR_FAILED" in m["text"])


async def _async(value: Any) -> Any:
    return value

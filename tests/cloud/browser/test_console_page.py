"""The fleet console in real headless Chromium against the real cloud service (SQLite, in this loop).

* an operator's day: the sign-in form (a wrong password first); the fleet with an online device (its
  backlog per lane, disk, models, open alarms), one never seen and one that falls silent and is shown
  offline within two heartbeat intervals; registering a device (the credential shown once, then used
  to sign a heartbeat that turns it online); rotating with the old keys refused at once; revoking a
  key; editing; decommissioning (its requests refused from then on);
* a device's sync history and schema-skew report, the data-definitions editor and the dataset browser
  with a CSV export downloaded through the page;
* labelling hard examples: accepting the model's boxes, correcting them with the mouse (drawing a new
  box, relabelling it, moving and resizing the model's), deleting a frame from training;
* training and models: a pipeline run started from the page, its progress bar, state, timings, metrics
  and log; registered versions with lineage, an alias moved from the page;
* a viewer: no control that changes anything;
* the layout of every view at desktop (1280×800) and tablet (820×1180) sizes, with screenshots, checked
  for overlapping, clipped or off-screen parts and small touch targets.

Every test fails on a console error, warning or CSP violation of the page.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.async_api import Page, expect

import tests.cloud.training.kinds
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.roles import Role
from cloud_sync.training import JobQueue, embedded_worker, make_huey
from tests.browser import Console, attach_console
from tests.browser_layout import LAYOUT, layout_problems
from tests.cloud.model_registry.packages import CAMERA, Signer, camera_package
from tests.cloud.training.conftest import FAST
from tests.cloud.test_service_harness import (  # noqa: F401
    ADMIN, Cloud, DeviceClient, cloud, readings_batch, snapshots_batch,
)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}
VIEWER = ("vic", "viewer-password-1")
CONSOLE_LAYOUT = {
    "blocks": "main > .view:not([hidden]) > .panel, main > .view:not([hidden]) > .view-head, "
              "main > .view:not([hidden]) > .table-wrap, main > .view:not([hidden]) > form, .cards > .card",
    "header": ".topbar > *",
    "cells": ".view-head > *, .card h2, .health, .lane, .fleet-summary, .topbar > *, .form-buttons > *",
    "targets": "button, .topnav a, .btn",
}


def beat(**fields: Any) -> dict[str, Any]:
    """A heartbeat body as the edge sync agent sends it."""
    return {"ts": time.time(), "interval_s": 30,
            "lanes": {"events": {"backlog_rows": 3, "backlog_bytes": 2048, "oldest_unsynced_ts": time.time() - 90},
                      "bulk": {"backlog_rows": 125_000, "backlog_bytes": 9_000_000},
                      "snapshots": {"backlog_rows": 0, "backlog_bytes": 0}},
            "last_success_ts": time.time() - 12, "disk": {"used_bytes": 700 * 2**20, "budget_bytes": 1024 * 2**20},
            "models": {"cam-gate": {"name": "ppe-detector", "version": "3.1.0", "sha256": "ab" * 32}},
            "alarms": {"open": 4, "by_priority": {"critical": 1, "high": 3}}, "software": "0.9.0", **fields}


async def open_console(browser: Any, url: str, viewport: dict[str, int] = DESKTOP) -> tuple[Page, Console]:
    context = await browser.new_context(viewport=viewport, accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    console = attach_console(page, asyncio.get_running_loop().time)
    await page.goto(f"{url}/console/")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page, console


async def sign_in(page: Page, name: str, password: str) -> None:
    await page.fill("#signin-name", name)
    await page.fill("#signin-password", password)
    await page.click("#signin-submit")
    await expect(page.locator("#user")).to_have_text(name)


def _signed_out_check(message: dict[str, Any]) -> bool:
    """The 401 of asking who is signed in before anyone is, or of a wrong password: the page's own doing."""
    return "status of 401" in message["text"] and message["url"].endswith("/api/v1/session")


def no_errors(console: Console) -> None:
    bad = console.errors(_signed_out_check)
    assert console.page_errors == [] and bad == [], (console.page_errors, bad)


def row(page: Page, device: str) -> Any:
    return page.locator(f'tr.device-row[data-device="{device}"]')


async def test_an_operator_manages_the_fleet(cloud: Cloud, browser: Any) -> None:
    online = await cloud.register("tunnel-3", site="tunnel-east")
    assert (await online.post("heartbeat", json.dumps(beat()).encode())).status == 200
    silent = await cloud.register("plant-2", site="plant-b")
    assert (await silent.post("heartbeat", json.dumps(beat(interval_s=2)).encode())).status == 200
    await cloud.register("spare-1")
    page, console = await open_console(browser, cloud.url)

    # sign-in: the form first, a wrong password is refused in words
    await expect(page.locator("#signin")).to_be_visible()
    await page.fill("#signin-name", ADMIN.name)
    await page.fill("#signin-password", "not-the-password")
    await page.click("#signin-submit")
    await expect(page.locator("#signin-error")).to_have_text("Wrong name or password.")
    await sign_in(page, ADMIN.name, ADMIN.password)

    # the fleet: health in words, backlog per lane, disk, models, open alarms
    tunnel = row(page, "tunnel-3")
    await expect(tunnel.locator(".health")).to_have_text("Online")
    await expect(tunnel.locator('.lane[data-lane="bulk"] .lane-rows')).to_have_text("125,000")
    await expect(tunnel.locator('.lane[data-lane="events"] .lane-rows')).to_have_text("3")
    await expect(tunnel.locator("meter")).to_have_attribute("title", "68% of the disk budget")
    await expect(tunnel.locator(".models")).to_have_text("cam-gate: ppe-detector 3.1.0")
    await expect(tunnel.locator(".alarms")).to_have_text("4 (1 critical, 3 high)")
    await expect(tunnel.locator(".last-sync")).to_have_text(re.compile(r"^\d\d s ago$"))  # 12 s before the beat
    await expect(row(page, "spare-1").locator(".health")).to_have_text("Never seen")
    # plant-2 beats every 2 s and fell silent: offline within two intervals, without waiting for a fetch
    await expect(row(page, "plant-2").locator(".health")).to_have_text("Offline", timeout=4_500)
    await expect(page.locator("#fleet-summary")).to_contain_text("1 online")

    # register: the credential is shown once and works for the device at once
    await page.click("#register-open")
    dialog = page.locator("#dialog")
    await dialog.locator('[name="id"]').fill("gate-1")
    await dialog.locator('[name="name"]').fill("North gate")
    await dialog.locator('[name="site"]').fill("tunnel-east")
    await dialog.locator('[name="memory_mb"]').fill("4096")
    await dialog.locator('[name="rt_litert"]').fill("1.2.0")
    await dialog.locator('button[data-value="register"]').click()
    await expect(page.locator("#dialog-title")).to_have_text("New device credential")
    first = DeviceCredential.parse(await page.locator("#credential-text").input_value())
    assert first.device == "gate-1"
    await page.click('#dialog button[data-value="done"]')
    await expect(page).to_have_url(re.compile(r"#/devices/gate-1$"))
    gate = DeviceClient(cloud.http, first)
    assert (await gate.heartbeat()).status == 200
    await expect(page.locator("#device-cards .health")).to_have_text("Online", timeout=8_000)
    await expect(page.locator("#device-cards")).to_contain_text("litert 1.2.0")

    # rotate, refusing the old keys at once: the new credential signs, the old one is refused
    await page.click("#device-rotate")
    await page.check('#dialog [name="revoke_old"]')
    await page.click('#dialog button[data-value="rotate"]')
    second = DeviceCredential.parse(await page.locator("#credential-text").input_value())
    await page.click('#dialog button[data-value="done"]')
    assert second.key_id != first.key_id
    assert (await gate.heartbeat()).status == 401
    assert (await DeviceClient(cloud.http, second).heartbeat()).status == 200
    await expect(page.locator(f'#key-rows tr[data-key="{first.key_id}"]')).to_contain_text("revoked")

    # revoke the new key from its row: refused from the next request on
    await page.click(f'#key-rows tr[data-key="{second.key_id}"] button')
    await page.click('#dialog button[data-value="revoke"]')
    await expect(page.locator(f'#key-rows tr[data-key="{second.key_id}"]')).to_contain_text("revoked")
    assert (await DeviceClient(cloud.http, second).heartbeat()).status == 401

    # edit, then decommission (the id typed to confirm; a wrong one is refused in the dialog)
    await page.click("#device-edit")
    await page.fill('#dialog [name="site"]', "tunnel-west")
    await page.click('#dialog button[data-value="save"]')
    await expect(page.locator("#device-cards")).to_contain_text("tunnel-west")
    await page.goto(f"{cloud.url}/console/#/devices/tunnel-3")
    await expect(page.locator("#device-title")).to_have_text("Tunnel-3 (tunnel-3)")
    await page.click("#device-decommission")
    await page.fill('#dialog [name="confirm"]', "tunnel-4")
    await page.click('#dialog button[data-value="decommission"]')
    await expect(page.locator("#dialog-error")).to_have_text("Type tunnel-3 to confirm.")
    await page.fill('#dialog [name="confirm"]', "tunnel-3")
    await page.click('#dialog button[data-value="decommission"]')
    await expect(page.locator("#device-cards .health")).to_have_text("Decommissioned")
    await expect(page.locator("#device-rotate")).to_be_disabled()
    assert (await online.heartbeat()).status == 403
    await page.click("#nav a[data-view='devices']")
    await expect(row(page, "tunnel-3").locator(".health")).to_have_text("Decommissioned")
    no_errors(console)


async def test_history_skew_definitions_and_datasets(cloud: Cloud, browser: Any, tmp_path: Path) -> None:
    device = await cloud.register("edge-9")
    assert (await device.batch(readings_batch("edge-9", rows=50))).status == 200
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, ADMIN.name, ADMIN.password)

    # the definitions editor: heart rates above 80 bpm are out of range for jetson-gw from now on
    await page.goto(f"{cloud.url}/console/#/definitions/jetson-gw")
    hr = page.locator("#kind-rows tr").filter(has=page.locator('.in-kind[value="hr"]'))
    v1 = hr.filter(has=page.locator(".in-name option[value='v1']:checked"))
    await expect(v1).to_have_count(1)
    await v1.locator(".in-max").fill("80")
    await page.click("#definition-save")
    await expect(page.locator("#definition-ok")).to_contain_text("Saved")
    stored = (await cloud.admin().call("GET", "/definitions/jetson-gw")).body
    assert stored["readings"]["hr"]["v1"]["max"] == 80.0
    await v1.locator(".in-max").fill("eighty")
    await page.click("#definition-save")
    await expect(page.locator("#definition-error")).to_have_text('maximum "eighty" is not a number')

    # the next batch is stored with flags and shows up as skew, the history lists both batches
    assert (await device.batch(readings_batch("edge-9", first_id=51, rows=50))).status == 200
    await page.goto(f"{cloud.url}/console/#/devices/edge-9")
    await expect(page.locator("#history-rows tr")).to_have_count(2)
    skew = page.locator('#skew-rows tr[data-field="v1"][data-problem="range"]')
    await expect(skew).to_contain_text("Out of range")
    await expect(page.locator("#history-chart rect")).to_have_count(2)

    # datasets: a page of the device's readings, the next page, and a CSV export downloaded here
    await page.click("#nav a[data-view='data']")
    await page.select_option("#data-table", "readings")
    await page.fill("#data-device", "edge-9")
    await page.click("#data-search")
    await expect(page.locator("#data-rows tr")).to_have_count(100)
    await expect(page.locator("#data-more")).to_be_hidden()
    await page.fill("#data-kind", "hr")
    await page.select_option("#data-format", "csv")
    await page.click("#data-export")
    link = page.locator("#export-files a").first
    await expect(link).to_be_visible()
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert len(lines) == 101 and "edge-9" in lines[1]
    no_errors(console)


async def test_labelling_hard_examples(cloud: Cloud, browser: Any) -> None:
    device = await cloud.register("edge-5")
    assert (await device.batch(snapshots_batch("edge-5", 1, 3, size=(640, 480)))).status == 200
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, ADMIN.name, ADMIN.password)
    await page.click("#nav a[data-view='labels']")
    await expect(page.locator("#label-counts")).to_contain_text("3 to label")
    await expect(page.locator("#label-overlay rect.box")).to_have_count(1)  # the model's box, shown to start from
    first = await page.locator("#label-thumbs .thumb.current").get_attribute("data-id")

    # 1: the model was right
    await page.click("#label-accept")
    await expect(page.locator("#label-counts")).to_contain_text("2 to label")
    # 2: draw a box where the model saw nothing and call it no_helmet; move and resize the model's box
    frame = await page.locator("#label-overlay").bounding_box()
    assert frame is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return frame["x"] + x * frame["width"], frame["y"] + y * frame["height"]

    second = await page.locator("#label-thumbs .thumb.current").get_attribute("data-id")
    await expect(page.locator("#label-overlay rect.box")).to_have_count(1)
    await page.mouse.move(*at(0.6, 0.2))
    await page.mouse.down()
    await page.mouse.move(*at(0.8, 0.5), steps=4)
    await page.mouse.up()
    await expect(page.locator("#label-overlay rect.box")).to_have_count(2)
    await page.locator("#box-list li").nth(1).locator("select").select_option("no_helmet")
    await page.mouse.move(*at(0.3, 0.5))  # inside the model's box (0.25..0.5, 0.17..0.92)
    await page.mouse.down()
    await page.mouse.move(*at(0.35, 0.5), steps=3)
    await page.mouse.up()
    handle = await page.locator("#label-overlay rect.handle").bounding_box()
    assert handle is not None
    await page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(*at(0.62, 0.95), steps=3)
    await page.mouse.up()
    await page.click("#label-save")
    await expect(page.locator("#label-counts")).to_contain_text("1 to label")
    # 3: not a usable frame
    third = await page.locator("#label-thumbs .thumb.current").get_attribute("data-id")
    await page.click("#label-delete")
    await expect(page.locator("#label-counts")).to_contain_text("0 to label")
    await expect(page.locator("#editor-title")).to_have_text("No hard example to show")

    labelled = (await cloud.admin().call("GET", "/labels/hard-examples?status=all")).body["examples"]
    by_id = {str(e["id"]): e["label"] for e in labelled}
    assert by_id[first]["status"] == "accepted" and [b["label"] for b in by_id[first]["boxes"]] == ["person"]
    assert by_id[third]["status"] == "deleted" and by_id[third]["boxes"] == []
    corrected = by_id[second]
    assert corrected["status"] == "corrected" and corrected["by"] == ADMIN.name
    moved, drawn = corrected["boxes"]
    assert moved["label"] == "person" and drawn["label"] == "no_helmet"
    assert abs(moved["x1"] - 0.30) < 0.02 and abs(moved["x2"] - 0.62) < 0.02 and abs(moved["y2"] - 0.95) < 0.02
    assert abs(drawn["x1"] - 0.6) < 0.02 and abs(drawn["y1"] - 0.2) < 0.02 and abs(drawn["x2"] - 0.8) < 0.02
    no_errors(console)


async def test_training_jobs_and_models(cloud: Cloud, browser: Any, tmp_path: Path) -> None:
    tests.cloud.training.kinds.add_readings(cloud.engine, 400)
    put = await cloud.admin().call("PUT", "/training/pipelines/hr", {"kind": tests.cloud.training.kinds.KIND,
                                                                    "options": {"step_s": 1.5}})
    assert put.status == 200, put
    signer = Signer.new()
    registry = ModelRegistry(cloud.engine, cloud.data_dir / "models")
    for version, parent in (("1.0.0", None), ("1.1.0", "1.0.0")):
        root = camera_package(tmp_path / "packages", signer, version, parent=parent)
        await asyncio.to_thread(registry.register, root, signer.trusted, "tests")
    registry.set_alias(CAMERA, "champion", "1.0.0", by="tests")
    queue = JobQueue(make_huey(None, cloud.data_dir), cloud.engine, cloud.data_dir, FAST)
    page, console = await open_console(browser, cloud.url)
    try:
        with embedded_worker(queue, workers=1):
            await sign_in(page, ADMIN.name, ADMIN.password)
            await page.click("#nav a[data-view='training']")
            await page.click('#pipeline-rows tr[data-pipeline="hr"] .run-now')
            await expect(page).to_have_url(re.compile(r"#/training/\d+$"))
            row = page.locator("#job-rows tr.job-row").first
            await expect(row.locator(".job-state")).to_have_text(re.compile("Queued|Preprocessing|Training"))
            await expect(row.locator(".job-state")).to_have_text("Done", timeout=30_000)
            await expect(row.locator("progress")).to_have_attribute("value", "100")
            await expect(page.locator("#job-timings")).to_contain_text("training")
            await expect(page.locator("#job-metrics")).to_contain_text('"accuracy"')
            await expect(page.locator("#job-log")).to_contain_text("fitted on")
    finally:
        queue.close()
    await page.click("#nav a[data-view='models']")
    await page.click(f'#model-rows tr[data-model="{CAMERA}"] a')
    await expect(page.locator("#version-rows tr")).to_have_count(2)
    await page.click('#version-rows tr[data-version="1.1.0"] a')
    await expect(page.locator("#lineage li")).to_have_count(2)
    await page.click('#version-rows tr[data-version="1.1.0"] .set-alias[data-alias="champion"]')
    await expect(page.locator("#alias-history li").first).to_contain_text("champion → 1.1.0 (was 1.0.0) by ada")
    assert registry.alias(CAMERA, "champion").version == "1.1.0"
    no_errors(console)


async def test_a_viewer_changes_nothing(cloud: Cloud, browser: Any) -> None:
    await asyncio.to_thread(AdminAccounts(cloud.engine).add, VIEWER[0], Role.VIEWER, VIEWER[1])
    await cloud.register("edge-1")
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, *VIEWER)
    await expect(page.locator("#role")).to_have_text("viewer")
    await expect(row(page, "edge-1")).to_be_visible()
    await expect(page.locator("#register-open")).to_be_hidden()
    await page.click('tr.device-row[data-device="edge-1"] a')
    await expect(page.locator("#key-rows tr")).to_have_count(1)
    await expect(page.locator(".device-actions")).to_be_hidden()
    await expect(page.locator("#key-rows button")).to_have_count(0)
    await page.click("#nav a[data-view='definitions']")
    await expect(page.locator("#definition-save")).to_be_hidden()
    assert await page.locator("#kind-rows input:not([disabled])").count() == 0
    await page.click("#nav a[data-view='data']")
    await expect(page.locator("#data-export")).to_be_hidden()
    await page.click("#logout")
    await expect(page.locator("#signin")).to_be_visible()
    no_errors(console)


async def test_layout_at_desktop_and_tablet_sizes(cloud: Cloud, browser: Any, screenshots: Path) -> None:
    for i in range(6):
        device = await cloud.register(f"edge-{i}", site=f"site-{i % 2}")
        if i % 3:
            assert (await device.post("heartbeat", json.dumps(beat()).encode())).status == 200
        assert (await device.batch(readings_batch(f"edge-{i}", rows=20))).status == 200
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, ADMIN.name, ADMIN.password)
    await page.click("#nav a[data-view='data']")
    await page.select_option("#data-table", "readings")
    await page.click("#data-search")
    await expect(page.locator("#data-rows tr")).to_have_count(100)
    assert (await device.batch(snapshots_batch("edge-5", 100, 4, size=(640, 480)))).status == 200
    views = {"devices": "#/devices", "device": "#/devices/edge-1", "definitions": "#/definitions", "data": "#/data",
             "labels": "#/labels", "training": "#/training", "models": "#/models"}
    for size, viewport in (("desktop", DESKTOP), ("tablet", TABLET)):
        await page.set_viewport_size(viewport)
        for view, fragment in views.items():
            await page.evaluate("(f) => { location.hash = f; }", fragment)
            await expect(page.locator(f"#view-{view}")).to_be_visible()
            await page.wait_for_timeout(300)
            layout = await page.evaluate(LAYOUT, CONSOLE_LAYOUT)
            await page.screenshot(path=str(screenshots / f"console-{view}-{size}.png"), full_page=True)
            assert layout["blocks"], (view, size, layout)
            assert layout_problems(layout) == {}, (view, size, layout)
    assert len(list(screenshots.glob("console-*.png"))) == 14
    no_errors(console)

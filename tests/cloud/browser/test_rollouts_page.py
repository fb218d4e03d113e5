"""The console's Rollouts view and a device's model updates in real headless Chromium against the real
service (SQLite, in this loop), with devices reporting through real signed requests:

* an admin starts a rollout from the page; the canaries' reports move its progress and it is promoted by
  itself once they ran it for the healthy period and saw the confirmed alarms; pause and resume from the
  page; a device's rollback report halts it (state and reason shown); the admin rolls it back;
* the device page shows what is desired and what runs per slot, the update state and what ran when;
* a viewer sees rollouts and no control;
* the layout of the views at desktop (1280×800) and tablet (820×1180) sizes, with screenshots.

Every test fails on a console error, warning or CSP violation of the page.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.async_api import Page, expect

from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.roles import Role
from cloud_sync.rollout.pins import PinStore
from cloud_sync.rollout.records import PinIn
from tests.browser_layout import LAYOUT, layout_problems
from tests.cloud.browser.test_console_page import (
    ADMIN, CONSOLE_LAYOUT, DESKTOP, TABLET, VIEWER, no_errors, open_console, sign_in,
)
from tests.cloud.model_registry.packages import CAMERA, Signer
from tests.cloud.rollout.fleet import ORIN, PI, Edge, add_devices, edge, register_versions, report, rolled_back, slot
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401

LAYOUT_SELECTORS = {**CONSOLE_LAYOUT, "cells": CONSOLE_LAYOUT["cells"] + ", .rollout-state, .progress-text"}


async def fleet(cloud: Cloud, tmp_path: Path) -> dict[str, Edge]:
    await asyncio.to_thread(register_versions, cloud.engine, cloud.data_dir / "models", Signer.new(),
                            tmp_path / "packages")
    credentials = add_devices(cloud.engine, {"j1": ("jetson", ORIN), "j2": ("jetson", ORIN), "p1": ("pi", PI)})
    PinStore(cloud.engine).set(PinIn(slot="camera", scope="site", key="plant-a", model=CAMERA, version="1.0.0"),
                               "tests")
    return {d: edge(cloud, c) for d, c in credentials.items()}


def rollout_row(page: Page) -> Any:
    return page.locator("#rollout-rows tr.rollout-row").first


async def start_from_the_page(page: Page) -> str:
    await page.click("#nav a[data-view='rollouts']")
    await expect(page.locator("#rollouts-empty")).to_be_visible()
    await page.click("#rollout-open")
    await page.fill("#dialog [name=version]", "1.1.0")
    await page.fill("#dialog [name=canary_share]", "34")
    await page.fill("#dialog [name=healthy_period_s]", "1")
    await page.fill("#dialog [name=min_confirmed_alarms]", "2")
    await page.click("#dialog-buttons button[data-value=start]")
    await expect(page).to_have_url(re.compile(r"#/rollouts/ro-[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


async def test_an_admin_runs_a_rollout_from_the_console(cloud: Cloud, browser: Any, tmp_path: Path) -> None:
    edges = await fleet(cloud, tmp_path)
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, ADMIN.name, ADMIN.password)
    rollout_id = await start_from_the_page(page)
    row = rollout_row(page)
    await expect(row.locator(".rollout-state")).to_have_text("Canary")
    await expect(page.locator("#rollout-title")).to_contain_text(f"{rollout_id} · {CAMERA} 1.1.0")
    canaries = (await row.locator(".canaries").inner_text()).split(", ")
    assert len(canaries) == 2 and any(c.startswith("p") for c in canaries)
    await expect(row.locator(".progress-text")).to_contain_text("0 of 2 canaries healthy")
    await expect(row.locator(".rollout-action")).to_have_text(["Promote", "Pause", "Roll back"])

    for device in canaries:  # the canaries switch, one confirmed alarm each
        assert (await edges[device].report(report({"camera": slot("active", "1.1.0", rollout_id=rollout_id,
                                                                  confirmed=1)}))).status == 200
    await expect(row.locator(".progress-text")).to_contain_text("2 of 2 confirmed alarms", timeout=10_000)
    await asyncio.sleep(1.1)  # the healthy period
    assert (await edges[canaries[0]].report(report({"camera": slot("active", "1.1.0", confirmed=1)}))).status == 200
    await expect(row.locator(".rollout-state")).to_have_text("Promoted", timeout=10_000)
    await expect(page.locator("#rollout-events li.event-promoted")).to_contain_text("by auto")

    await row.locator(".rollout-action[data-action=pause]").click()
    await page.fill("#dialog [name=reason]", "night shift first")
    await page.click("#dialog-buttons button[data-value=pause]")
    await expect(row.locator(".rollout-state")).to_have_text("Paused")
    await expect(row.locator(".reason")).to_have_text("night shift first")
    await row.locator(".rollout-action[data-action=resume]").click()
    await expect(row.locator(".rollout-state")).to_have_text("Promoted")

    other = next(d for d in edges if d not in canaries)
    ack = await edges[other].report(report({"camera": slot("rolled_back", "1.0.0", rollout_id=rollout_id,
                                                           reason="latency 41 ms over its 25 ms budget")},
                                           [rolled_back("1.1.0", rollout_id, "latency 41 ms over its 25 ms budget")]))
    assert ack.body["halted"] == [rollout_id]
    await expect(row.locator(".rollout-state")).to_have_text("Halted", timeout=10_000)
    await expect(row.locator(".reason")).to_contain_text(f"device {other} rolled back: latency 41 ms")
    await expect(page.locator(f'#rollout-device-rows tr[data-device="{other}"]')).to_contain_text("latency 41 ms")
    await expect(page.locator("#rollout-events li.event-halted")).to_contain_text(f"by device:{other}")
    await row.locator(".rollout-action[data-action=rollback]").click()
    await page.click("#dialog-buttons button[data-value=rollback]")
    await expect(row.locator(".rollout-state")).to_have_text("Rolled back")
    await expect(row.locator(".rollout-action")).to_have_count(0)

    await page.click(f'#rollout-device-rows tr[data-device="{canaries[0]}"] a')  # the device's model updates
    camera = page.locator('#slot-rows tr[data-slot="camera"]')
    await expect(camera).to_contain_text(f"{CAMERA} 1.0.0")  # desired: the baseline again
    await expect(camera).to_contain_text(f"{CAMERA} 1.1.0")  # active, as it last reported
    await expect(camera.locator(".update-state")).to_have_text("active")
    await expect(page.locator('#activity-rows tr[data-slot="camera"]')).to_contain_text("1.1.0")
    no_errors(console)


async def test_a_viewer_sees_rollouts_and_no_control(cloud: Cloud, browser: Any, tmp_path: Path) -> None:
    await fleet(cloud, tmp_path)
    await asyncio.to_thread(AdminAccounts(cloud.engine).add, VIEWER[0], Role.VIEWER, VIEWER[1])
    created = await cloud.admin().call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0"})
    assert created.status == 201, created
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, *VIEWER)
    await page.click("#nav a[data-view='rollouts']")
    await expect(rollout_row(page).locator(".rollout-state")).to_have_text("Canary")
    await expect(page.locator("#rollout-open")).to_be_hidden()
    assert await page.locator("#rollout-rows button").count() == 0
    await rollout_row(page).locator("a").first.click()
    await expect(page.locator("#rollout-events li")).to_have_count(1)
    assert await page.locator("#rollout-detail button").count() == 0
    no_errors(console)


async def test_layout_at_desktop_and_tablet_sizes(cloud: Cloud, browser: Any, tmp_path: Path,
                                                  screenshots: Path) -> None:
    edges = await fleet(cloud, tmp_path)
    created = await cloud.admin().call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0",
                                                             "canary_share": 0.5})
    rollout_id = created.body["id"]
    for device in created.body["canary_devices"]:
        await edges[device].report(report({"camera": slot("watching", "1.1.0", rollout_id=rollout_id, confirmed=1)}))
    halted = await cloud.admin().call("POST", "/rollouts", {"slot": "risk", "model": CAMERA, "version": "1.1.0"})
    assert halted.status == 409  # a camera model cannot run in the risk slot
    page, console = await open_console(browser, cloud.url)
    await sign_in(page, ADMIN.name, ADMIN.password)
    views = {"rollouts": "#/rollouts", "rollout": f"#/rollouts/{rollout_id}",
             "device": f"#/devices/{created.body['canary_devices'][0]}"}
    for size, viewport in (("desktop", DESKTOP), ("tablet", TABLET)):
        await page.set_viewport_size(viewport)
        for view, fragment in views.items():
            await page.evaluate("(f) => { location.hash = f; }", fragment)
            shown = "rollouts" if view.startswith("rollout") else view
            await expect(page.locator(f"#view-{shown}")).to_be_visible()
            if view == "rollout":
                await expect(page.locator("#rollout-detail")).to_be_visible()
            if view == "device":
                await expect(page.locator("#activity-rows tr")).to_have_count(1)
            await page.wait_for_timeout(300)
            layout = await page.evaluate(LAYOUT, LAYOUT_SELECTORS)
            await page.screenshot(path=str(screenshots / f"rollouts-{view}-{size}.png"), full_page=True)
            assert layout["blocks"], (view, size, layout)
            assert layout_problems(layout) == {}, (view, size, layout)
    assert len(list(screenshots.glob("rollouts-*.png"))) == 6
    no_errors(console)

"""The live page's cloud sync panel in a real browser: lane backlogs, last success, last error; the
same state on /api/v1/sync and /metrics; an uplink that fails is a note there, never a reason to stop."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.async_api import expect

from cloud_sync.contract.signing import DeviceCredential
from edge_runtime.daemon import EdgeDaemon
from tests.broker import Mosquitto
from tests.dashboard.browser.test_dashboard_page import assert_quiet, open_page, sign_in
from tests.dashboard.harness import eventually_async, signed_in, with_accounts
from tests.e2e.harness import SimSite
from tests.sync.cloud_double import CloudDouble
from tests.sync.conftest import sync_settings


async def test_the_sync_panel_follows_the_uplink(tmp_path: Path, mosquitto: Mosquitto, browser: Any) -> None:
    credential = DeviceCredential.generate("edge-1")
    credential_file = tmp_path / "device.credential"
    credential_file.write_text(credential.text())
    cloud = CloudDouble(credential)
    await cloud.start()
    site = SimSite(tmp_path, mosquitto.port, "h2s_leak.yaml")
    config = with_accounts(await site.start())
    config = config.model_copy(update={"device_id": "edge-1", "sync": sync_settings(cloud.url, credential_file)})
    daemon = EdgeDaemon(config)
    await daemon.start()
    try:
        site.play()
        assert daemon.http.url is not None
        page, console = await open_page(browser)
        await sign_in(page, daemon.http.url, "vera")
        panel = page.locator("#sync-panel")
        await expect(panel).to_be_visible()
        await expect(panel.locator("#sync-lanes tr")).to_have_count(3)
        await expect(panel.locator("#sync-state")).to_have_text("Up to date", timeout=15_000)
        await expect(panel.locator('[data-fact="last-success"] dd')).not_to_have_text("never", timeout=15_000)
        await expect(panel.locator('[data-fact="last-error"] dd')).to_have_text("none")
        assert await page.locator("body").get_attribute("data-sync") == "ok"

        cloud.down = True  # the uplink fails: readings pile up, the panel says so; nothing else changes
        await expect(panel.locator("#sync-state")).to_contain_text("Cloud unreachable", timeout=20_000)
        await expect(panel.locator('[data-fact="last-error"] dd')).to_contain_text("503: unavailable")
        bulk = panel.locator('#sync-lanes tr[data-lane="bulk"] .sync-rows')
        await expect(bulk).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=20_000)
        await expect(page.locator("#storage-banner")).to_be_hidden()
        await expect(page.locator("#error-banner")).to_be_hidden()
        sync = await page.evaluate("() => fetch('/api/v1/sync').then((r) => r.json())")
        assert sync["enabled"] and sync["degraded"] and sync["lanes"]["bulk"]["rows"] > 0
        report = daemon.readiness()
        assert "sync" not in report["checks"] and report["sync"]["degraded"]  # type: ignore[index,operator]
        assert_quiet(console)

        async with signed_in(daemon.http.url, "vera") as viewer:
            async def scraped() -> str | None:
                status, body = await viewer.get("/metrics")
                text = body.decode()
                return text if status == 200 and "siteguard_sync_up 0.0" in text else None

            metrics = await eventually_async(scraped, 10, "sync down on /metrics")
        assert re.search(r'^siteguard_sync_backlog_rows\{lane="bulk"\} [1-9]', metrics, re.M)
        assert re.search(r'^siteguard_sync_sent_rows_total\{lane="events"\} [1-9]', metrics, re.M)
        assert re.search(r"^siteguard_sync_failures_total [1-9]", metrics, re.M)
        assert 'siteguard_sync_breaker{state="closed"}' in metrics
        assert "siteguard_sync_last_success_timestamp_seconds" in metrics
    finally:
        await daemon.stop()
        await site.stop()
        await cloud.stop()

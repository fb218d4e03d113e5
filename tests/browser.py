"""Real-browser tests of the pages (the dashboard's and the fleet console's): Debian's headless Chromium
driven by Playwright; a browser test module's conftest imports these fixtures and the skip hook.

The daemon runs in the test's own event loop (tests/dashboard/harness.py), and
so does Playwright's async API, so a test can act in the page, on the broker
and on the daemon in one coroutine. Playwright never downloads a browser here:
the system's /usr/bin/chromium is used, and the tests skip without it.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = Path(os.environ.get("SITEGUARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium); the browser tests need a real Chromium"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None  # no broker: the mosquitto fixture skips with its own reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips, with the reason, every test that needs the ``browser`` fixture where there is none."""
    reason = _skip_reason()
    if reason is None:
        return
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Console:
    """Everything the page said on its console, and its uncaught errors (CSP violations included)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def errors(self, allowed: Any = None) -> list[dict[str, Any]]:
        """Error and warning messages that ``allowed(message) -> bool`` does not excuse."""
        bad = [m for m in self.messages if m["type"] in ("error", "warning")]
        return [m for m in bad if not (allowed and allowed(m))]


def attach_console(page: Any, loop_time: Any, console: Console | None = None) -> Console:
    """Collects ``page``'s console into ``console`` (a new one unless given: pages may share one)."""
    console = console if console is not None else Console()

    def on_console(msg: Any) -> None:
        console.messages.append({"type": msg.type, "text": msg.text, "url": (msg.location or {}).get("url", ""),
                                 "t": loop_time()})

    page.on("console", on_console)
    page.on("pageerror", lambda err: console.page_errors.append(str(err)))
    return console


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A fresh headless Chromium per test (the system's; never downloaded)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots (under pytest's tmp dir, never committed)."""
    path = tmp_path / "screenshots"
    path.mkdir()
    return path

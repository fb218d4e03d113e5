"""Dashboard test harness: the demo site's emulated firmware on ptys, a real Mosquitto and the
real daemon, with three accounts (one per role) and an HTTP client that signs in like the page."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
from argon2 import PasswordHasher

from edge_runtime.config import SiteConfig
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.keys import API, CSRF_HEADER
from tests.e2e.harness import SimSite

T0 = 1_800_000_000.0  # a fixed "now" for tests that drive time themselves


class FakeClock:
    """A clock a test sets: ``clock.now += 60``."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


#: name -> (role, password); the names are what actions are recorded under
ACCOUNTS = {
    "vera": ("viewer", "viewer-password-1"),
    "sam": ("supervisor", "supervisor-password-1"),
    "ada": ("admin", "admin-password-1"),
}


@lru_cache(maxsize=1)
def account_entries() -> tuple[dict[str, str], ...]:
    """Site-file account entries (argon2id hashes, made once per test run)."""
    hasher = PasswordHasher()
    return tuple({"name": n, "display_name": n.title(), "role": role, "password_hash": hasher.hash(pw)}
                 for n, (role, pw) in ACCOUNTS.items())


def with_accounts(config: SiteConfig, **dashboard: Any) -> SiteConfig:
    """``config`` with the three test accounts (and any other dashboard settings)."""
    data = config.model_dump(mode="json")
    data["dashboard"] = {**data["dashboard"], "accounts": list(account_entries()), **dashboard}
    return SiteConfig.model_validate(data)


class DashboardClient:
    """An HTTP client that signs in like the page: session cookie plus the CSRF header."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None
        self.me: dict[str, Any] | None = None

    async def login(self, name: str, password: str | None = None) -> dict[str, Any]:
        password = password if password is not None else ACCOUNTS[name][1]
        async with self.session.post(f"{self.base_url}{API}/session", json={"name": name, "password": password}) as r:
            body = await r.json()
            if r.status != 200:
                raise AssertionError(f"login {name}: {r.status} {body}")
        self.me, self.csrf = body, body["csrf_token"]
        return body

    def _headers(self, method: str) -> dict[str, str]:
        return {CSRF_HEADER: self.csrf} if self.csrf and method not in ("GET", "HEAD", "OPTIONS") else {}

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """``path`` below the server root (``/api/v1/...``); JSON bodies decoded, others as bytes."""
        headers = {**self._headers(method), **kwargs.pop("headers", {})}
        async with self.session.request(method, f"{self.base_url}{path}", headers=headers, **kwargs) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.read()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", path, json=json, **kwargs)

    async def close(self) -> None:
        await self.session.close()


@asynccontextmanager
async def dashboard_site(
    tmp: Path, mqtt_port: int, scenario: str = "demo.yaml", *, play: bool = False, **dashboard: Any
) -> AsyncIterator[tuple[SimSite, EdgeDaemon, str]]:
    """The simulator (playing ``scenario`` if ``play``) and the daemon with accounts; yields the base URL."""
    site = SimSite(tmp, mqtt_port, scenario)
    config = with_accounts(await site.start(), **dashboard)
    site.config = config
    daemon = EdgeDaemon(config)
    await daemon.start()
    try:
        if play:
            site.play()
        assert daemon.http.url is not None
        yield site, daemon, daemon.http.url
    finally:
        await daemon.stop()
        await site.stop()


@asynccontextmanager
async def signed_in(base_url: str, name: str) -> AsyncIterator[DashboardClient]:
    client = DashboardClient(base_url)
    try:
        await client.login(name)
        yield client
    finally:
        await client.close()


async def eventually_async(check: Any, timeout: float, what: str) -> Any:
    """Polls an async ``check`` until it returns something truthy; returns that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Event:
    name: str
    data: Any
    id: int | None


class EventStream:
    """Parses an SSE response into events, the way a browser's EventSource does."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.retry: int | None = None
        self.seen: list[Event] = []

    async def next(self) -> Event | None:
        """The next event; None at the end of the stream."""
        fields: dict[str, str] = {}
        while True:
            line = await self.response.content.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text:
                name, _, value = text.partition(": ")
                fields[name] = value
                continue
            if "retry" in fields:
                self.retry = int(fields.pop("retry"))
            if "data" in fields:
                event = Event(fields.get("event", "message"), json.loads(fields["data"]),
                              int(fields["id"]) if "id" in fields else None)
                self.seen.append(event)
                return event

    async def until(self, match: Callable[[Event], bool], timeout: float) -> Event:
        async def find() -> Event:
            while (event := await self.next()) is not None:
                if match(event):
                    return event
            raise AssertionError(f"stream ended; saw {[e.name for e in self.seen]}")

        return await asyncio.wait_for(find(), timeout)


def named(name: str) -> Callable[[Event], bool]:
    return lambda e: e.name == name

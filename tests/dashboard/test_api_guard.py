"""Every endpoint of the API, including ones added later, is guarded: no session answers 401, a role
too low answers 403, and a change without the CSRF header answers 403 (the middleware refuses them
before any handler runs, so dummy path parameters and empty bodies are enough)."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from edge_runtime.dashboard import build_api
from edge_runtime.dashboard.keys import API, CSRF_HEADER
from edge_runtime.dashboard.roles import Role
from tests.broker import Mosquitto
from tests.dashboard.harness import ACCOUNTS, dashboard_site, signed_in
from web_common.api import UNSAFE_METHODS, Endpoint

ENDPOINTS = build_api().endpoints
PROTECTED = [ep for ep in ENDPOINTS if ep.role is not None]


def url(base: str, ep: Endpoint) -> str:
    return base + API + re.sub(r"{[^}]+}", "1", ep.path)


@pytest.fixture
async def site(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[str]:
    async with dashboard_site(tmp_path, mosquitto.port) as (_, __, base):
        yield base


def test_only_sign_in_is_public() -> None:
    """A new public endpoint must be a deliberate choice: it shows up here first."""
    assert [(ep.method, ep.path) for ep in ENDPOINTS if ep.role is None] == [("POST", "/session")]


async def test_without_a_session_every_protected_endpoint_answers_401(site: str) -> None:
    wrong = []
    async with aiohttp.ClientSession() as http:
        for ep in [*PROTECTED, None]:
            target = url(site, ep) if ep else f"{site}/metrics"
            async with http.request(ep.method if ep else "GET", target, json={}, allow_redirects=False) as r:
                body = await r.json() if r.content_type == "application/json" else None
                if r.status != 401 or body != {"error": "not signed in", "details": []}:
                    wrong.append((target, r.status, body))
    assert not wrong


@pytest.mark.parametrize("account", ["vera", "sam"])
async def test_a_role_too_low_answers_403_even_with_the_csrf_token(site: str, account: str) -> None:
    role = Role.parse(ACCOUNTS[account][0])
    wrong = []
    async with signed_in(site, account) as client:
        for ep in [ep for ep in PROTECTED if ep.role is not None and ep.role > role]:
            status, body = await client.request(ep.method, url(site, ep).removeprefix(site), json={})
            if status != 403 or not isinstance(body, dict) or "role" not in body["error"]:
                wrong.append((ep.method, ep.path, status, body))
    assert not wrong


@pytest.mark.parametrize("account", ["sam", "ada"])
async def test_without_the_csrf_header_every_change_answers_403(site: str, account: str) -> None:
    wrong = []
    async with signed_in(site, account) as client:
        for ep in [ep for ep in PROTECTED if ep.method in UNSAFE_METHODS]:
            async with client.session.request(ep.method, url(site, ep), json={}) as r:
                if r.status != 403:
                    wrong.append((ep.method, ep.path, r.status))
        assert (await client.get(f"{API}/session"))[0] == 200  # still signed in: the logout was refused too
    assert not wrong
    assert any(ep.method in UNSAFE_METHODS for ep in PROTECTED)


async def test_the_token_of_another_session_is_not_enough(site: str) -> None:
    async with signed_in(site, "sam") as sam, signed_in(site, "ada") as ada:
        async with ada.session.delete(f"{site}{API}/session", headers={CSRF_HEADER: sam.csrf or ""}) as r:
            assert r.status == 403

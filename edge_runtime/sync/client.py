"""The agent's HTTP side of docs/sync.md: signed POSTs, and each answer sorted into what it means.

The session is injected (one per agent process, closed by its owner). Every
request is signed over its exact path (with the query, if any) and body.
What the agent does with an answer is the agent's; here it only becomes one
of the :data:`Outcome` types, so no HTTP status leaks further.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from cloud_sync.contract import batch, signing
from cloud_sync.contract.batch import Receipt
from cloud_sync.contract.signing import DeviceCredential

REASON_CHARS = 300  # of an error body kept as the reason


@dataclass(frozen=True, slots=True)
class Accepted:
    """200: the receipt (for a heartbeat: an empty one)."""

    receipt: Receipt


@dataclass(frozen=True, slots=True)
class Invalid:
    """400: the body is not a batch; the cloud's reason."""

    reason: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """413: over the cloud's body limit."""

    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """401/403: the cloud does not take this device's requests (credential, registration)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    """5xx, a timeout, a refused or dropped connection, or an answer that makes no sense: try again later."""

    reason: str


Outcome = Accepted | Invalid | TooLarge | Refused | Unavailable


class CloudClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, credential: DeviceCredential, *,
                 timeout_s: float, clock: Callable[[], float]) -> None:
        self._session = session
        url = urlsplit(base_url.rstrip("/"))
        self._origin = f"{url.scheme}://{url.netloc}"
        # the path as sent is the path signed: the base URL's own path prefix included
        self._paths = {what: f"{url.path}/v1/devices/{credential.device}/{what}" for what in ("batches", "heartbeat")}
        self._credential = credential
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock

    async def post_batch(self, body: bytes) -> Outcome:
        return await self._post("batches", body, batch.MEDIA_TYPE)

    async def post_heartbeat(self, report: dict[str, Any]) -> Outcome:
        return await self._post("heartbeat", json.dumps(report, separators=(",", ":")).encode(), "application/json")

    async def _post(self, what: str, body: bytes, content_type: str) -> Outcome:
        path = self._paths[what]
        headers = {**signing.sign(self._credential, "POST", path, body, self._clock()),
                   "Content-Type": content_type}
        try:
            async with self._session.post(self._origin + path, data=body, headers=headers,
                                          timeout=self._timeout) as response:
                status, text = response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return Unavailable(f"{type(exc).__name__}: {exc}"[:REASON_CHARS] or type(exc).__name__)
        return _outcome(what, status, text)


def _outcome(what: str, status: int, text: bytes) -> Outcome:
    if status == 200:
        if what != "batches":
            return Accepted(Receipt())
        try:
            return Accepted(Receipt.model_validate_json(text))
        except ValidationError:
            return Unavailable("200 without a receipt")
    reason = f"{status}: {_reason(text)}"
    if status == 400:
        return Invalid(reason)
    if status == 413:
        return TooLarge(reason)
    if status in (401, 403):
        return Refused(status, reason)
    return Unavailable(reason)


def _reason(text: bytes) -> str:
    """The ``error`` of a JSON error body, else the start of the body."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error if error is not None else text.decode(errors="replace"))[:REASON_CHARS]

"""The update agent's HTTP side of the rollout contract: the desired state, the report, package bytes.

Every request is signed like the sync agent's (``cloud_sync.contract.signing``,
over the exact path as sent, the base URL's own prefix included). Whatever
goes wrong on the wire becomes one :class:`RolloutError`, whose
``retry`` says whether trying again later can help (5xx, timeouts, dropped
connections) or not (401/403: the credential; 400/404: the request).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from cloud_sync.contract import signing
from cloud_sync.contract.rollout import DesiredState, DeviceReport, ReportAck
from cloud_sync.contract.signing import DeviceCredential

REASON_CHARS = 300


class RolloutError(OSError):
    """A rollout request that failed; ``retry``: a later try may succeed."""

    def __init__(self, reason: str, *, retry: bool = True, status: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.retry, self.status = reason[:REASON_CHARS], retry, status


class RolloutClient:
    """The session is injected and closed by its owner; ``timeout_s`` bounds a request, and a download's silences."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, credential: DeviceCredential, *,
                 timeout_s: float, clock: Callable[[], float]) -> None:
        self._session = session
        url = urlsplit(base_url.rstrip("/"))
        self._origin, self._prefix = f"{url.scheme}://{url.netloc}", url.path
        self._device = f"{url.path}/v1/devices/{credential.device}"
        self._credential = credential
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        self._clock = clock

    async def desired(self) -> DesiredState:
        body = await self._request("GET", f"{self._device}/desired", b"")
        try:
            return DesiredState.model_validate_json(body)
        except ValidationError as exc:
            raise RolloutError(f"desired state does not parse: {exc.errors()[0]['msg']}") from None

    async def report(self, report: DeviceReport) -> ReportAck:
        body = await self._request("POST", f"{self._device}/report", report.model_dump_json().encode())
        try:
            return ReportAck.model_validate_json(body)
        except ValidationError as exc:
            raise RolloutError(f"report answer does not parse: {exc.errors()[0]['msg']}") from None

    @asynccontextmanager
    async def package(self, url: str, headers: dict[str, str]) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response to a signed GET of a package path (``url``: under the API root), with extra ``headers``
        (Range, If-Range); the caller reads the status and the body. Errors as :class:`RolloutError`."""
        path = self._prefix + "/" + url.lstrip("/")
        signed = {**signing.sign(self._credential, "GET", path, b"", self._clock()), **headers}
        try:
            async with self._session.get(self._origin + path, headers=signed, timeout=self._stream_timeout,
                                         auto_decompress=False) as response:
                yield response
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RolloutError(_describe(exc)) from None

    async def _request(self, method: str, path: str, body: bytes) -> bytes:
        headers = signing.sign(self._credential, method, path, body, self._clock())
        if body:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, self._origin + path, data=body or None, headers=headers,
                                             timeout=self._timeout) as response:
                status, text = response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise RolloutError(_describe(exc)) from None
        if status != 200:
            raise RolloutError(f"{method} {path}: {status}: {text[:200].decode(errors='replace')}",
                               retry=status >= 500 or status == 429, status=status)
        return text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")

"""A small genuine rollout cloud on loopback: the desired state, the report, and packages served with Range.

It does what the contract (cloud_sync/contract/rollout.py) asks of the real
service (being built in cloud_sync/rollout): every request's signature is
checked as the sync double checks it (nonces refused when seen again), reports are parsed as
``DeviceReport``, packages are served with ``ETag``, ``Range`` (206 with
``Content-Range``) and ``If-Range``. It can be told to fail: be down (503),
cut the next package response after some bytes, or serve a package's bytes
changed under the same URL.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cloud_sync.contract.rollout import DesiredModel, DesiredState, DeviceReport, UpdateEvent
from tests.sync.cloud_double import CloudDouble


@dataclass
class Served:
    body: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class RolloutDouble(CloudDouble):
    """The sync double's signature checks (``down`` also answers desired and report 503; packages still go)."""

    report_interval_s: float = 0.2
    cut_after: list[int] = field(default_factory=list)  # the next package responses end after this many bytes
    models: dict[str, DesiredModel] = field(default_factory=dict)  # by slot
    halted: list[str] = field(default_factory=list)
    halt_on_rollback: bool = True  # a rolled_back event halts its rollout (as the real cloud does)
    packages: dict[str, Served] = field(default_factory=dict)
    reports: list[DeviceReport] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)  # the Range header of each package request
    desired_polls: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/devices/{device}/desired", self._desired)
        app.router.add_post("/v1/devices/{device}/report", self._report)
        app.router.add_get("/v1/devices/{device}/packages/{name}", self._package)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    def offer(self, slot: str, key: str, body: bytes, *, name: str, version: str, **desired: Any) -> DesiredModel:
        """Serve ``body`` as package ``key`` and make it the slot's desired model (``desired``: DesiredModel fields)."""
        self.packages[key] = Served(body)
        model = DesiredModel(name=name, version=version, package_sha256=desired.pop("package_sha256", None)
                             or hashlib.sha256(body).hexdigest(), package_bytes=len(body),
                             url=f"/v1/devices/{self.credential.device}/packages/{key}", **desired)
        self.models[slot] = model
        return model

    def events(self) -> list[UpdateEvent]:
        return [event for report in self.reports for event in report.events]

    async def _desired(self, request: web.Request) -> web.Response:
        if (refused := self._authenticate(request, b"")) is not None:
            return refused
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        self.desired_polls += 1
        state = DesiredState(device=self.credential.device, generated_ts=time.time(),
                             report_interval_s=self.report_interval_s, models=self.models, halted=self.halted)
        return web.Response(body=state.model_dump_json(), content_type="application/json")

    async def _report(self, request: web.Request) -> web.Response:
        body = await request.read()
        if (refused := self._authenticate(request, body)) is not None:
            return refused
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        report = DeviceReport.model_validate_json(body)
        self.reports.append(report)
        newly = [e.rollout_id for e in report.events if e.kind == "rolled_back" and e.rollout_id
                 and self.halt_on_rollback and e.rollout_id not in self.halted]
        self.halted.extend(newly)
        return web.json_response({"server_ts": time.time(), "halted": newly})

    async def _package(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._authenticate(request, b"")) is not None:
            return refused
        served = self.packages.get(request.match_info["name"])
        if served is None:
            return web.json_response({"error": "no such package"}, status=404)
        self.ranges.append(request.headers.get("Range"))
        start, status, headers = 0, 200, {"ETag": served.etag, "Accept-Ranges": "bytes"}
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes=") and request.headers.get("If-Range", served.etag) == served.etag:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(served.body):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(served.body)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(served.body) - 1}/{len(served.body)}"
        body = served.body[start:]
        headers["Content-Length"] = str(len(body))
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if self.cut_after:
            await response.write(body[:self.cut_after.pop(0)])
            await asyncio.sleep(0.2)  # the bytes sent reach the device before the link drops
            assert request.transport is not None
            request.transport.close()  # the link drops mid-file
            return response
        for i in range(0, len(body), 64 * 1024):
            await response.write(body[i:i + 64 * 1024])
        await response.write_eof()
        return response

"""A small but genuine cloud for the agent's tests: the device endpoints of docs/sync.md on loopback.

It does what the contract asks of the real service (being built elsewhere):
checks every request's signature (``signing.read_headers``/``verify``, nonces
refused when seen again), decodes the body with ``batch.decode``, validates
every row against its record model, stores each chunk exactly once by its
idempotency key (a chunk seen before is answered ``duplicate: true``), keeps
rows by (table, edge id) and answers a ``batch.Receipt``. It can be told to
fail: answer 503, 400, 413 or 401, drop the connection after storing (a lost
receipt), reject the chunks of a table, or answer slowly.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from cloud_sync.contract import batch, signing
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.contract.tables import TABLES

# scripted answers for the next batch requests, in order
FAIL_503, LOST_RECEIPT, BAD_REQUEST, TOO_LARGE, UNAUTHORISED = "503", "lost_receipt", "400", "413", "401"


@dataclass
class Request:
    ts: float  # time.monotonic() when it arrived
    status: int  # 0: connection dropped
    body_bytes: int
    rows: int
    tables: tuple[str, ...]


@dataclass
class CloudDouble:
    credential: DeviceCredential
    clock: Callable[[], float] = time.time
    max_body: int = batch.MAX_BODY_BYTES
    delay_s: float = 0.0  # before answering a batch (after storing it)
    down: bool = False  # every batch answered 503
    reject_tables: set[str] = field(default_factory=set)  # their chunks answered as rejected
    script: deque[str] = field(default_factory=deque)
    chunks: dict[str, batch.Range] = field(default_factory=dict)  # key -> the range stored under it
    rows: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {t: {} for t in TABLES})
    stored_at: dict[tuple[str, int], float] = field(default_factory=dict)  # (table, edge id) -> monotonic time
    stored_again: int = 0  # rows of a new key whose edge id was already stored (the agent re-sent a row)
    duplicates: int = 0  # chunks answered duplicate
    requests: list[Request] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0  # batch requests being answered now
    nonces: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/devices/{device}/batches", self._batches)
        app.router.add_post("/v1/devices/{device}/heartbeat", self._heartbeat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stored(self, table: str) -> list[int]:
        return sorted(self.rows[table])

    # --- handlers ------------------------------------------------------------------------

    def _authenticate(self, request: web.Request, body: bytes) -> web.Response | None:
        try:
            signed = signing.read_headers(request.headers, self.clock())
            if signed.nonce in self.nonces:
                raise signing.AuthError("nonce seen before")
            if signed.key_id != self.credential.key_id:
                raise signing.AuthError("unknown key")
            signing.verify(self.credential.public_key(), signed, request.method, request.path_qs, body,
                           request.headers)
        except signing.AuthError as exc:
            return web.json_response({"error": exc.reason}, status=401)
        self.nonces.add(signed.nonce)
        if signed.device != request.match_info["device"]:
            return web.json_response({"error": "signed for another device"}, status=403)
        return None

    async def _heartbeat(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._authenticate(request, body)
        if refused is not None:
            return refused
        self.heartbeats.append(await request.json())
        return web.json_response({"server_ts": self.clock()})

    async def _batches(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            return await self._batch(request)
        finally:
            self.in_flight -= 1

    async def _batch(self, request: web.Request) -> web.Response:
        body = await request.read()
        record = Request(time.monotonic(), 0, len(body), 0, ())
        self.requests.append(record)
        refused = self._authenticate(request, body)
        if refused is not None:
            record.status = refused.status
            return refused
        scripted = self.script.popleft() if self.script else None
        status, answer = self._answer(body, scripted, record)
        if scripted == LOST_RECEIPT:  # stored, and the receipt never reaches the device
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        record.status = status
        return web.json_response(answer, status=status)

    def _answer(self, body: bytes, scripted: str | None, record: Request) -> tuple[int, dict[str, Any]]:
        if self.down or scripted == FAIL_503:
            return 503, {"error": "unavailable"}
        if scripted == UNAUTHORISED:
            return 401, {"error": "revoked key"}
        if scripted == TOO_LARGE or len(body) > self.max_body:
            return 413, {"error": f"over {self.max_body} bytes"}
        try:
            decoded = batch.decode(body)
        except batch.BatchError as exc:
            return 400, {"error": exc.reason}
        record.rows, record.tables = decoded.rows, tuple(c.table for c in decoded.chunks)
        if scripted == BAD_REQUEST:
            return 400, {"error": "header mismatch"}
        receipt = batch.Receipt()
        for chunk in decoded.chunks:
            key = chunk.key(decoded.device)
            found = batch.Range(table=chunk.table, first_id=chunk.first_id, last_id=chunk.last_id, key=key,
                                rows=chunk.rows)
            if chunk.table in self.reject_tables:
                receipt.rejected.append(batch.Rejected(**found.model_dump(), reason=f"{chunk.table} refused"))
            elif key in self.chunks:
                self.duplicates += 1
                receipt.durable.append(batch.Durable(**found.model_dump(), duplicate=True))
            else:
                reason = self._store(chunk)
                if reason is None:
                    self.chunks[key] = found
                    receipt.durable.append(batch.Durable(**found.model_dump()))
                else:
                    receipt.rejected.append(batch.Rejected(**found.model_dump(), reason=reason))
        return 200, receipt.model_dump()

    def _store(self, chunk: batch.Chunk) -> str | None:
        """Validate every row against its record, then keep them all (or none: one transaction)."""
        model = TABLES[chunk.table].record
        try:
            records = [model.model_validate(r).model_dump() for r in chunk.records()]
        except ValidationError as exc:
            return f"invalid row: {exc.errors()[0]['msg']}"
        table = self.rows[chunk.table]
        now = time.monotonic()
        for edge_id, values in zip(map(int, chunk.ids), records):
            if edge_id in table:
                self.stored_again += 1
            table[edge_id] = values
            self.stored_at.setdefault((chunk.table, edge_id), now)
        return None

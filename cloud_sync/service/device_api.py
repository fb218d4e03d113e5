"""The signed device endpoints of docs/sync.md: ``POST /v1/devices/{device_id}/batches`` and ``/heartbeat``.

They are public to the session guard (a device has no session) and verify the
request signature themselves, over the raw body, before anything else reads
it. Every step that touches the database or burns CPU (authentication, batch
decoding, ingest) runs in a thread: the event loop only moves bytes. Answers
are the contract's: 401/403 with the reason, 400 for a body that is not a
batch (kept in the cloud's quarantine with the reason), 413 over the size
limit, 200 with the ingest's :class:`Receipt`.
"""
from __future__ import annotations

import asyncio
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cloud_sync.contract import batch
from cloud_sync.contract.batch import Batch, BatchError, Receipt
from cloud_sync.contract.rollout import SLOTS
from cloud_sync.ingest import DeviceRef
from cloud_sync.registry.device_auth import DeviceAuthError
from cloud_sync.registry.devices import Device
from cloud_sync.registry.heartbeats import Heartbeat
from cloud_sync.registry.roles import Role
from web_common.api import ApiError, ApiRegistry
from web_common.json_body import BodyError, parse_json

from .keys import DEVICE_AUTH, HEARTBEATS, INGEST, METRICS, MODEL_REGISTRY

BATCHES = "/devices/{device_id}/batches"
HEARTBEAT = "/devices/{device_id}/heartbeat"
DEVICE_ERRORS = (401, 403, 413)
B = TypeVar("B", bound=BaseModel)


class HeartbeatAck(BaseModel):
    server_ts: float


def register(api: ApiRegistry[Role]) -> None:
    api.route("POST", BATCHES, role=None, summary="Upload a sync batch", tag="devices", response=Receipt,
              errors=(400, *DEVICE_ERRORS))(post_batch)
    api.route("POST", HEARTBEAT, role=None, summary="Report the device's sync state", tag="devices",
              response=HeartbeatAck, errors=(*DEVICE_ERRORS, 422))(post_heartbeat)


async def post_batch(request: web.Request, device_id: str) -> Receipt:
    """Stores the batch's chunks once each (a re-sent chunk is answered ``duplicate``) and says which are
    durable and which were rejected, with the reason."""
    device, body = await signed_request(request, device_id)
    ingest = request.app[INGEST]
    try:
        decoded = await asyncio.to_thread(_decode_for, device, body)
    except BatchError as exc:
        await asyncio.to_thread(ingest.quarantine_body, device.id, body, exc.reason)
        raise ApiError(400, exc.reason) from None
    return await asyncio.to_thread(ingest.ingest, DeviceRef(device.id, device.site, device.device_type), decoded,
                                   len(body))


async def post_heartbeat(request: web.Request, device_id: str) -> HeartbeatAck:
    """Keeps the device's latest heartbeat (backlog, errors, models, open alarms): online/offline reads it; a
    slot whose model changed is appended to the model registry's activity record."""
    device, heartbeat = await signed_json(request, device_id, Heartbeat, "heartbeat")
    server_ts = await asyncio.to_thread(request.app[HEARTBEATS].record, device.id, heartbeat)
    await asyncio.to_thread(request.app[MODEL_REGISTRY].record_activity, device.id, heartbeat.models, server_ts,
                            from_ts=heartbeat.ts, keep=SLOTS)  # the update reports own those
    return HeartbeatAck(server_ts=server_ts)


async def signed_json(request: web.Request, device_id: str, model: type[B], what: str) -> tuple[Device, B]:
    """The authenticated device and its JSON body as ``model``: 401/403 before the body is parsed, 400 for one
    that is not JSON, 422 naming each invalid field (counted as ``bad_<what>``)."""
    device, body = await signed_request(request, device_id)
    try:
        return device, model.model_validate(parse_json(body))
    except BodyError as exc:
        raise ApiError(exc.status, str(exc), exc.details) from None
    except ValidationError as exc:
        request.app[METRICS].rejected(f"bad_{what}")
        raise ApiError(422, f"invalid {what}", [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                for e in exc.errors()]) from None


def _decode_for(device: Device, body: bytes) -> Batch:
    decoded = batch.decode(body)
    if decoded.device != device.id:
        raise BatchError(f"the batch is device {decoded.device}'s, signed by {device.id}")
    return decoded


async def signed_request(request: web.Request, device_id: str) -> tuple[Device, bytes]:
    """The device that signed ``request`` (401/403 otherwise) and the body it signed (413 over the limit)."""
    body = await _signed_body(request)
    return await _authenticate(request, device_id, body), body


async def _signed_body(request: web.Request) -> bytes:
    """The raw body, read no further than the app's ``client_max_size`` (the batch limit): 413 beyond."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        request.app[METRICS].rejected("too_large")
        raise ApiError(413, "the request body is too large", [f"at most {request.client_max_size} bytes"]) from None


async def _authenticate(request: web.Request, device_id: str, body: bytes) -> Device:
    try:
        return await asyncio.to_thread(request.app[DEVICE_AUTH].authenticate, device_id, request.method,
                                       request.raw_path, request.headers, body)
    except DeviceAuthError as exc:
        request.app[METRICS].rejected(exc.kind)
        raise ApiError(exc.status, exc.reason) from None

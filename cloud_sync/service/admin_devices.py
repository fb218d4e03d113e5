"""``/api/v1/devices``: the fleet (viewers read it, operators change it) and its credentials.

DELETE decommissions: the device and its data stay, its requests answer 403.
A credential is in the answer that issues it (registration, rotation) and
nowhere else. Unknown ids answer 404, changes to a decommissioned device 409.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from cloud_sync.registry.devices import Device, DeviceIn, DeviceKey, DevicePatch, IssuedCredential
from cloud_sync.registry.roles import Role
from web_common.api import ApiRegistry
from web_common.security import current_session

from .keys import DEVICES, HEARTBEATS
from .schemas import DeviceList, DeviceView, KeyList, Registered, RotateIn

log = logging.getLogger(__name__)
DEVICE = "/devices/{device_id}"


def register(api: ApiRegistry[Role]) -> None:
    viewer, operator = {"role": Role.VIEWER, "tag": "devices"}, {"role": Role.OPERATOR, "tag": "devices"}
    api.route("GET", "/devices", summary="The fleet, with each device's latest heartbeat", response=DeviceList,
              **viewer)(list_devices)
    api.route("POST", "/devices", summary="Register a device and issue its credential", body=DeviceIn,
              response=Registered, status=201, errors=(409,), **operator)(register_device)
    api.route("GET", DEVICE, summary="One device", response=DeviceView, errors=(404,), **viewer)(get_device)
    api.route("PATCH", DEVICE, summary="Change a device", body=DevicePatch, response=Device, errors=(404, 409),
              **operator)(update_device)
    api.route("DELETE", DEVICE, summary="Decommission a device (its data stays)", response=Device,
              errors=(404,), **operator)(decommission_device)
    api.route("GET", f"{DEVICE}/credentials", summary="The device's keys (never a secret)", response=KeyList,
              errors=(404,), **viewer)(list_keys)
    api.route("POST", f"{DEVICE}/credentials", summary="Rotate: issue a new credential", body=RotateIn,
              response=IssuedCredential, status=201, errors=(404, 409), **operator)(rotate_key)
    api.route("DELETE", f"{DEVICE}/credentials/{{key_id}}", summary="Revoke a key at once", response=DeviceKey,
              errors=(404,), **operator)(revoke_key)


async def list_devices(request: web.Request) -> DeviceList:
    """Every device, decommissioned ones too, each with ``status`` (online, latest heartbeat) once it sent one."""
    devices, statuses = await asyncio.gather(asyncio.to_thread(request.app[DEVICES].list),
                                             asyncio.to_thread(request.app[HEARTBEATS].statuses))
    return DeviceList(devices=[DeviceView(**d.model_dump(), status=statuses.get(d.id)) for d in devices])


async def register_device(request: web.Request, body: DeviceIn) -> Registered:
    device, credential = await asyncio.to_thread(request.app[DEVICES].register, body)
    _log(request, "device registered", device.id, key=credential.key_id)
    return Registered(device=device, credential=credential)


async def get_device(request: web.Request, device_id: str) -> DeviceView:
    device = await asyncio.to_thread(request.app[DEVICES].get, device_id)
    statuses = await asyncio.to_thread(request.app[HEARTBEATS].statuses, [device_id])
    return DeviceView(**device.model_dump(), status=statuses.get(device_id))


async def update_device(request: web.Request, device_id: str, body: DevicePatch) -> Device:
    device = await asyncio.to_thread(request.app[DEVICES].update, device_id, body)
    _log(request, "device changed", device_id, fields=sorted(body.model_fields_set))
    return device


async def decommission_device(request: web.Request, device_id: str) -> Device:
    device = await asyncio.to_thread(request.app[DEVICES].decommission, device_id)
    _log(request, "device decommissioned", device_id)
    return device


async def list_keys(request: web.Request, device_id: str) -> KeyList:
    return KeyList(keys=await asyncio.to_thread(request.app[DEVICES].keys, device_id))


async def rotate_key(request: web.Request, device_id: str, body: RotateIn) -> IssuedCredential:
    """A new credential; the old keys keep working for the service's overlap unless ``revoke_old``."""
    credential = await asyncio.to_thread(request.app[DEVICES].rotate, device_id, revoke_old=body.revoke_old)
    _log(request, "device credential rotated", device_id, key=credential.key_id, revoke_old=body.revoke_old)
    return credential


async def revoke_key(request: web.Request, device_id: str, key_id: str) -> DeviceKey:
    key = await asyncio.to_thread(request.app[DEVICES].revoke, device_id, key_id)
    _log(request, "device key revoked", device_id, key=key_id)
    return key


def _log(request: web.Request, what: str, device_id: str, **extra: object) -> None:
    log.info(what, extra={"device": device_id, "by": current_session(request).name, **extra})

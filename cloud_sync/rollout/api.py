"""``/api/v1`` rollout routes: rollouts (create, list, show, promote, pause, resume, rollback), pins, and a
device's update state with what it ran when.

Viewers read; admins change. Refusals are the registry's NotFound (404) and
Conflict (409), answered by the service's middleware. Every call runs the
library in a thread.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from aiohttp import web
from sqlalchemy import Engine

from cloud_sync.registry.roles import Role
from cloud_sync.service.keys import DEVICES, MODEL_REGISTRY
from web_common.api import ApiRegistry
from web_common.security import current_session

from . import device_routes
from .records import ActionIn, DeviceUpdates, Pin, PinIn, PinList, PinQuery, RolloutDetail, RolloutIn, RolloutList
from .service import ROLLOUTS, RolloutService

ACTIONS = {"promote": "Promote to every target now", "pause": "Pause: nothing moves until resumed",
           "resume": "Resume a paused rollout", "rollback": "Roll back: every target gets the baseline"}


def install(app: web.Application, engine: Engine) -> None:
    """The rollout service on ``app`` (after the device and model registries are installed)."""
    app[ROLLOUTS] = RolloutService.build(engine, app[DEVICES], app[MODEL_REGISTRY])


def register(api: ApiRegistry[Role]) -> None:
    viewer, admin = {"role": Role.VIEWER, "tag": "rollouts"}, {"role": Role.ADMIN, "tag": "rollouts"}
    api.route("GET", "/rollouts", summary="Rollouts, newest first, with canary progress", response=RolloutList,
              **viewer)(list_rollouts)
    api.route("POST", "/rollouts", summary="Start a rollout: canaries first", body=RolloutIn, response=RolloutDetail,
              status=201, errors=(404, 409), **admin)(create_rollout)
    api.route("GET", "/rollouts/{rollout_id}", summary="A rollout with its devices and events",
              response=RolloutDetail, errors=(404,), **viewer)(get_rollout)
    for action, summary in ACTIONS.items():
        api.route("POST", f"/rollouts/{{rollout_id}}/{action}", summary=summary, body=ActionIn,
                  response=RolloutDetail, errors=(404, 409), **admin)(_act(action))
    api.route("GET", "/pins", summary="Pinned desired versions per device or group", response=PinList,
              **viewer)(list_pins)
    api.route("PUT", "/pins", summary="Pin a version for a device or a group", body=PinIn, response=Pin,
              errors=(404, 409), **admin)(put_pin)
    api.route("DELETE", "/pins", summary="Remove a pin", query=PinQuery, status=204, errors=(404,),
              **admin)(delete_pin)
    api.route("GET", "/devices/{device_id}/updates",
              summary="A device's desired models, latest update report, rollouts and what it ran when",
              response=DeviceUpdates, errors=(404,), **viewer)(device_updates)


def register_device(api: ApiRegistry[Role]) -> None:
    device_routes.register(api)


def _service(request: web.Request) -> RolloutService:
    return request.app[ROLLOUTS]


async def list_rollouts(request: web.Request) -> RolloutList:
    return RolloutList(rollouts=await asyncio.to_thread(_service(request).store.list))


async def create_rollout(request: web.Request, body: RolloutIn) -> RolloutDetail:
    return await asyncio.to_thread(_service(request).store.create, body, current_session(request).name)


async def get_rollout(request: web.Request, rollout_id: str) -> RolloutDetail:
    return await asyncio.to_thread(_service(request).store.get, rollout_id)


def _act(action: str) -> Callable[..., Awaitable[RolloutDetail]]:
    async def act(request: web.Request, rollout_id: str, body: ActionIn) -> RolloutDetail:
        return await asyncio.to_thread(_service(request).store.act, rollout_id, action,
                                       current_session(request).name, body.reason)

    act.__name__ = f"{action}_rollout"
    act.__doc__ = ACTIONS[action]
    return act


async def list_pins(request: web.Request) -> PinList:
    return PinList(pins=await asyncio.to_thread(_service(request).pins.list))


async def put_pin(request: web.Request, body: PinIn) -> Pin:
    service = _service(request)
    await asyncio.to_thread(service.store.check_version, body.slot, body.model, body.version)
    return await asyncio.to_thread(service.pins.set, body, current_session(request).name)


async def delete_pin(request: web.Request, query: PinQuery) -> None:
    await asyncio.to_thread(_service(request).pins.clear, query.slot, query.scope, query.key)


async def device_updates(request: web.Request, device_id: str) -> DeviceUpdates:
    return await asyncio.to_thread(_service(request).updates, device_id)

"""``/api/v1/labels``: the camera's hard examples, their frames and the labels admins give them.

Viewers see the queue and the frames; operators label (accept the model's
boxes, correct them, or delete the example from training). Every answer is a
new revision with who gave it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.labels import CLASSES, Box, HardExample, Label, LabelError, LabelStore
from cloud_sync.labels.store import Filter, Status
from cloud_sync.registry.roles import Role
from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session

from .keys import ENGINE

log = logging.getLogger(__name__)
EXAMPLE = "/labels/hard-examples/{snapshot_id}"


class HardExampleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Filter = "unlabelled"
    device_id: Optional[str] = None
    camera: Optional[str] = None
    after_id: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=500)


class HardExamplePage(BaseModel):
    examples: list[HardExample]
    counts: dict[str, int] = Field(description="unlabelled, labelled and deleted hard examples in all")
    classes: list[str] = Field(description="The labels a box may carry (the camera model's classes)")


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    boxes: list[Box] = Field(default_factory=list, description="Corners in 0..1 of the image; none for deleted")


def register(api: ApiRegistry[Role]) -> None:
    viewer, operator = {"role": Role.VIEWER, "tag": "labels"}, {"role": Role.OPERATOR, "tag": "labels"}
    api.route("GET", "/labels/hard-examples", summary="Hard examples to label, by label state",
              query=HardExampleQuery, response=HardExamplePage, **viewer)(hard_examples)
    api.route("GET", f"{EXAMPLE}/image", summary="A hard example's frame (JPEG)", produces="image/jpeg",
              errors=(404,), **viewer)(image)
    api.route("PUT", f"{EXAMPLE}/label", summary="Label a hard example (a new revision)", body=LabelIn,
              response=Label, errors=(404, 409, 422), **operator)(put_label)


def _store(request: web.Request) -> LabelStore:
    return LabelStore(request.app[ENGINE])


def _id(text: str) -> int:
    if not text.isdigit():
        raise ApiError(404, "no such hard example")
    return int(text)


async def hard_examples(request: web.Request, query: HardExampleQuery) -> HardExamplePage:
    store = _store(request)
    examples, counts = await asyncio.gather(
        asyncio.to_thread(store.hard_examples, query.status, device_id=query.device_id, camera=query.camera,
                          after_id=query.after_id, limit=query.limit),
        asyncio.to_thread(store.counts))
    return HardExamplePage(examples=examples, counts=counts, classes=list(CLASSES))


async def image(request: web.Request, snapshot_id: str) -> web.Response:
    jpeg = await asyncio.to_thread(_store(request).image, _id(snapshot_id))
    if jpeg is None:
        raise ApiError(404, "no such hard example")
    return web.Response(body=jpeg, headers={"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600"})


async def put_label(request: web.Request, snapshot_id: str, body: LabelIn) -> Label:
    by = current_session(request).name
    try:
        label = await asyncio.to_thread(_store(request).label, _id(snapshot_id), body.status, body.boxes, by)
    except LabelError as exc:
        raise ApiError(422, str(exc)) from None
    log.info("hard example labelled", extra={"snapshot": label.snapshot_id, "status": label.status,
                                             "boxes": len(label.boxes), "revision": label.revision, "by": by})
    return label

"""``/api/v1`` site plan, workers and cameras: thin handlers over :mod:`.site_view`."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import hdrs, web

from web_common.api import ApiError, ApiRegistry

from .keys import DAEMON, DASHBOARD
from .roles import Role
from .schemas import CameraList, LoadOut, QueueOut, SitePlan, StorageOut, SyncOut, WorkerCard, WorkerList
from .site_view import camera_list, site_plan, worker_card, worker_list

if TYPE_CHECKING:
    from .runtime import DashboardRuntime
    from edge_runtime.vision.supervisor import VisionSupervisor

    from . import Dashboard

JPEG_QUALITY = 80


def _daemon(request: web.Request) -> "DashboardRuntime":
    return request.app[DAEMON]  # type: ignore[return-value]


def _dashboard(request: web.Request) -> "Dashboard":
    return request.app[DASHBOARD]  # type: ignore[return-value]


async def get_site(request: web.Request) -> SitePlan:
    """Zones (with occupants, sirens, evacuations and alarm priority) and the fixed points of the map."""
    return site_plan(_daemon(request), _dashboard(request).settings)


async def get_workers(request: web.Request) -> WorkerList:
    """Every configured worker: position, zones, heart rate, gas with STEL/TWA, batteries and open alarms."""
    return worker_list(_daemon(request))


async def get_worker(request: web.Request, worker_id: str) -> WorkerCard:
    """One worker with the heart-rate and gas trends of the last hour."""
    try:
        return worker_card(_daemon(request), worker_id, _dashboard(request).live.trends)
    except KeyError:
        raise ApiError(404, f"unknown worker {worker_id!r}") from None


async def get_cameras(request: web.Request) -> CameraList:
    """Every camera with its state and model; empty on a site without cameras."""
    return camera_list(_daemon(request), _dashboard(request).live.frame_times)


async def get_camera_frame(request: web.Request, camera_id: str) -> web.Response:
    """The camera's newest annotated frame (detections drawn) as a JPEG."""
    daemon = _daemon(request)
    vision = daemon.vision
    if vision is None or all(c.id != camera_id for c in daemon.config.cameras):
        raise ApiError(404, f"unknown camera {camera_id!r}")
    status = vision.status().get(camera_id, {})
    if status.get("online") is False:
        raise ApiError(503, f"camera {camera_id} is offline", [status.get("reason") or "no frames"])
    encoded = await asyncio.to_thread(_newest_jpeg, vision, camera_id)  # copy and encode off the loop
    if encoded is None:
        raise ApiError(503, f"no frame from camera {camera_id} yet")
    jpeg, ts = encoded
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={hdrs.CACHE_CONTROL: "no-store", "X-Frame-Ts": f"{ts:.3f}"})


async def get_load(request: web.Request) -> LoadOut:
    """The node's bounded queues, what the overload policy shed (routine telemetry, never events), and
    whether storage takes writes."""
    daemon = _daemon(request)
    queues = daemon.queues()
    return LoadOut(shedding=any(q.shedding for q in queues), shed=sum(q.shed for q in queues),
                   queues=[QueueOut.model_validate(q.as_dict()) for q in queues],
                   storage=StorageOut.model_validate(daemon.store.health().as_dict()))


async def get_sync(request: web.Request) -> SyncOut:
    """What each sync lane still has to send, the last confirmed batch and the last error."""
    sync = _daemon(request).sync
    return SyncOut.model_validate(sync.report()) if sync is not None else SyncOut(enabled=False)


def _newest_jpeg(vision: "VisionSupervisor", camera_id: str) -> tuple[bytes, float] | None:
    frame = vision.annotated_frame(camera_id)
    if frame is None:
        return None
    import cv2  # only sites with cameras need OpenCV

    ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return (buf.tobytes(), frame.ts) if ok else None


def register(api: ApiRegistry) -> None:
    route = api.route
    route("GET", "/site", role=Role.VIEWER, summary="The site plan", tag="site", response=SitePlan)(get_site)
    route("GET", "/workers", role=Role.VIEWER, summary="All workers now", tag="site", response=WorkerList)(get_workers)
    route("GET", "/workers/{worker_id}", role=Role.VIEWER, summary="One worker with trends", tag="site",
          response=WorkerCard, errors=(404,))(get_worker)
    route("GET", "/load", role=Role.VIEWER, summary="Queues, load shedding and storage", tag="site",
          response=LoadOut)(get_load)
    route("GET", "/sync", role=Role.VIEWER, summary="The cloud uplink: backlog per lane, last success, last error",
          tag="site", response=SyncOut)(get_sync)
    route("GET", "/cameras", role=Role.VIEWER, summary="Cameras", tag="cameras", response=CameraList)(get_cameras)
    route("GET", "/cameras/{camera_id}/frame.jpg", role=Role.VIEWER, summary="A camera's newest annotated frame",
          tag="cameras", produces="image/jpeg", errors=(404, 503))(get_camera_frame)

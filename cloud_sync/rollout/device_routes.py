"""The signed device endpoints of rollout (docs/sync.md signatures, as every device request):

- ``GET /v1/devices/{id}/desired``: the :class:`DesiredState` (signed over an empty body);
- ``GET /v1/devices/{id}/packages/{name}/{version}``: the package archive, served as a file so ``Range``
  resumes a partial download (206), only of a version the device is desired to run or ran (403 otherwise);
- ``POST /v1/devices/{id}/report``: a :class:`DeviceReport`, answered with a :class:`ReportAck`.

Authentication and every database step run in a thread, as in
:mod:`cloud_sync.service.device_api`, whose body reading and authentication
these reuse.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from cloud_sync.contract.rollout import DesiredState, DeviceReport, ReportAck
from cloud_sync.model_registry import ModelNotFound
from cloud_sync.registry.roles import Role
from cloud_sync.service.device_api import DEVICE_ERRORS, signed_json, signed_request
from cloud_sync.service.document import DEVICE_BODIES
from cloud_sync.service.keys import DEVICE_API
from web_common.api import ApiError, ApiRegistry

from .service import ROLLOUTS, NotAllowed

DESIRED = "/devices/{device_id}/desired"
PACKAGE = "/devices/{device_id}/packages/{name}/{version}"
REPORT = "/devices/{device_id}/report"
SHA256_HEADER = "X-SiteGuard-Package-Sha256"


def register(api: ApiRegistry[Role]) -> None:
    """The routes on the device registry, and the report's body in the OpenAPI document's table of device
    bodies (the GETs have none: they are signed over an empty body)."""
    DEVICE_BODIES[DEVICE_API + REPORT] = ("application/json", DeviceReport)
    api.route("GET", DESIRED, role=None, summary="What the device should run, per slot", tag="devices",
              response=DesiredState, errors=DEVICE_ERRORS)(get_desired)
    api.route("GET", PACKAGE, role=None, summary="A package archive (Range resumes)", tag="devices",
              produces="application/x-tar", errors=(*DEVICE_ERRORS, 404))(get_package)
    api.route("POST", REPORT, role=None, summary="Report what runs and how it performs", tag="devices",
              response=ReportAck, errors=(*DEVICE_ERRORS, 422))(post_report)


async def get_desired(request: web.Request, device_id: str) -> DesiredState:
    """Pins and rollouts resolved for this device, with the artifact its hardware profile runs."""
    device, _ = await signed_request(request, device_id)
    return await asyncio.to_thread(request.app[ROLLOUTS].desired.for_device, device)


async def get_package(request: web.Request, device_id: str, name: str, version: str) -> web.StreamResponse:
    """The deterministic .tar of the stored package; its sha256 is the desired state's ``package_sha256``."""
    device, _ = await signed_request(request, device_id)
    try:
        archive = await asyncio.to_thread(request.app[ROLLOUTS].package_for, device, name, version)
    except NotAllowed as exc:
        raise ApiError(403, str(exc)) from None
    except ModelNotFound as exc:
        raise ApiError(404, str(exc)) from None
    return web.FileResponse(archive.path, headers={"Content-Type": "application/x-tar", SHA256_HEADER: archive.sha256})


async def post_report(request: web.Request, device_id: str) -> ReportAck:
    """Keeps the report, moves the device's rollouts on, halts a rollout on its first rollback report."""
    device, report = await signed_json(request, device_id, DeviceReport, "report")
    return await asyncio.to_thread(request.app[ROLLOUTS].reports.accept, device, report)

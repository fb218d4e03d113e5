"""``/api/v1`` data routes: per-device sync history and schema skew, data definitions, dataset search and export.

Viewers read; operators change definitions and run exports. Exports are
written under the service's data dir (``exports/<id>/``, Hive-partitioned as
``cloud_sync.datasets`` lays them out) and listed in the answer: a shared
volume in a cluster, so any replica's export is where DuckDB or Spark look.
"""
from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any, Literal, Optional

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select

from cloud_sync.datasets import Filters, export, search
from cloud_sync.db.schema import skew, sync_requests
from cloud_sync.definitions import DataDefinition, DefinitionError, DefinitionStore
from cloud_sync.registry.roles import Role
from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session

from .keys import ENGINE, SETTINGS

HISTORY_LIMIT = 200
_EXPORT_ID = re.compile(r"^[0-9a-f]{12}$")


class SyncRequestOut(BaseModel):
    ts: float
    rows: int
    bytes: int
    durable: int
    duplicates: int
    rejected: int
    duration_ms: float


class SyncHistory(BaseModel):
    requests: list[SyncRequestOut] = Field(description="Newest first")


class SkewOut(BaseModel):
    table: str
    field: str
    problem: Literal["unexpected", "missing", "type", "range"]
    count: int
    first_ts: float
    last_ts: float
    example: Optional[str] = None


class SkewReport(BaseModel):
    skew: list[SkewOut]


class DatasetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Optional[str] = None
    site: Optional[str] = None
    since: Optional[float] = None
    until: Optional[float] = None
    kind: Optional[str] = None
    alarm_kind: Optional[str] = None
    verdict: Optional[Literal["confirmed", "false_alarm"]] = None
    limit: int = Field(200, ge=1, le=10_000)
    after_id: int = Field(0, ge=0)


class DatasetPage(BaseModel):
    rows: list[dict[str, Any]] = Field(description="Stored rows; binary columns as their byte count")
    next_after_id: Optional[int] = Field(None, description="Pass as after_id for the next page; null at the end")


class ExportIn(DatasetQuery):
    table: str
    format: Literal["parquet", "csv"] = "parquet"


class ExportOut(BaseModel):
    id: str = Field(description="Names the export in GET /datasets/exports/{id}/file")
    directory: str
    files: list[str] = Field(description="Relative to directory")


class ExportFileQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=500, description="One of the export's files, as its answer lists it")


def register(api: ApiRegistry[Role]) -> None:
    viewer, operator = {"role": Role.VIEWER, "tag": "data"}, {"role": Role.OPERATOR, "tag": "data"}
    api.route("GET", "/devices/{device_id}/sync", summary="The device's recent batch requests", response=SyncHistory,
              **viewer)(sync_history)
    api.route("GET", "/devices/{device_id}/skew", summary="Schema skew the device's batches showed",
              response=SkewReport, **viewer)(skew_report)
    api.route("GET", "/definitions/{device_type}", summary="The collected-data definition a device type gets",
              response=DataDefinition, **viewer)(get_definition)
    api.route("PUT", "/definitions/{device_type}", summary="Store a device type's definition", body=DataDefinition,
              response=DataDefinition, errors=(422,), **operator)(put_definition)
    api.route("GET", "/datasets/{table}", summary="Search a synced table", query=DatasetQuery, response=DatasetPage,
              errors=(422,), **viewer)(dataset)
    api.route("POST", "/datasets/exports", summary="Export a table as partitioned Parquet or CSV", body=ExportIn,
              response=ExportOut, status=201, errors=(422,), **operator)(export_dataset)
    api.route("GET", "/datasets/exports/{export_id}/file", summary="Download one file of an export",
              query=ExportFileQuery, produces="application/octet-stream", errors=(404,), **viewer)(export_file)


async def sync_history(request: web.Request, device_id: str) -> SyncHistory:
    def read(engine: Engine) -> list[SyncRequestOut]:
        query = (select(sync_requests).where(sync_requests.c.device_id == device_id)
                 .order_by(sync_requests.c.ts.desc()).limit(HISTORY_LIMIT))
        with engine.connect() as conn:
            return [SyncRequestOut.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    return SyncHistory(requests=await asyncio.to_thread(read, request.app[ENGINE]))


async def skew_report(request: web.Request, device_id: str) -> SkewReport:
    def read(engine: Engine) -> list[SkewOut]:
        query = select(skew).where(skew.c.device_id == device_id).order_by(skew.c.last_ts.desc())
        with engine.connect() as conn:
            return [SkewOut(table=r.tbl, field=r.field, problem=r.problem, count=r.count, first_ts=r.first_ts,
                            last_ts=r.last_ts, example=r.example) for r in conn.execute(query)]

    return SkewReport(skew=await asyncio.to_thread(read, request.app[ENGINE]))


async def get_definition(request: web.Request, device_type: str) -> DataDefinition:
    return await asyncio.to_thread(DefinitionStore(request.app[ENGINE]).get, device_type)


async def put_definition(request: web.Request, device_type: str, body: DataDefinition) -> DataDefinition:
    store = DefinitionStore(request.app[ENGINE])
    try:
        await asyncio.to_thread(store.put, device_type, body, current_session(request).name)
    except DefinitionError as exc:
        raise ApiError(422, str(exc)) from None
    return body


def _filters(query: DatasetQuery) -> Filters:
    return Filters(device_id=query.device_id, site=query.site, since=query.since, until=query.until,
                   kind=query.kind, alarm_kind=query.alarm_kind, verdict=query.verdict)


async def dataset(request: web.Request, table: str, query: DatasetQuery) -> DatasetPage:
    try:
        rows, cursor = await asyncio.to_thread(search, request.app[ENGINE], table, _filters(query), query.limit,
                                               query.after_id)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    return DatasetPage(rows=[{k: len(v) if isinstance(v, bytes) else v for k, v in r.items()} for r in rows],
                       next_after_id=cursor)


async def export_dataset(request: web.Request, body: ExportIn) -> ExportOut:
    export_id = secrets.token_hex(6)
    directory = _exports(request) / export_id
    try:
        files = await asyncio.to_thread(export, request.app[ENGINE], body.table, _filters(body), directory,
                                        body.format)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    return ExportOut(id=export_id, directory=str(directory), files=[str(f.relative_to(directory)) for f in files])


async def export_file(request: web.Request, export_id: str, query: ExportFileQuery) -> web.FileResponse:
    """The file as an attachment; only a file inside that export is ever answered."""
    root = _exports(request).resolve()
    path = (root / export_id / query.path).resolve()
    if not _EXPORT_ID.match(export_id) or not path.is_relative_to(root / export_id) or not path.is_file():
        raise ApiError(404, "no such export file")
    name = query.path.replace("/", "_").replace("=", "-")
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                           "Content-Type": "application/octet-stream"})


def _exports(request: web.Request) -> Path:
    return request.app[SETTINGS].data_dir / "exports"

"""``/api/v1`` model registry routes: versions, lineage, aliases, what ran on a device, uploads, try-outs.

Viewers read and try models out (``POST /models/{name}/{version}/predict``);
operators upload packages and move aliases. Uploads and try-out bodies are
not JSON: they are read here as a stream against their own limits (a
package may be far larger than the app's JSON and batch limits), an upload
straight to a file in the store's staging directory. Registry lookups run in
a thread, inference on the predictor's pool (:mod:`.predict`).
"""
from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from cloud_sync.registry.roles import Role
from cloud_sync.service.keys import MODEL_REGISTRY, PREDICTOR
from cloud_sync.service.settings import ServiceSettings
from web_common.api import ApiError, ApiRegistry
from web_common.json_body import BodyError, parse_json
from web_common.security import current_session

from .config import RegistryConfig
from .errors import ModelNotFound, ModelRegistryError, PackageRefused, status_of
from .predict import Prediction, Predictor, RiskInput, input_kind
from .records import ActiveModel, Alias, AliasChange, LineageStep, ModelVersion
from .registry import ModelRegistry
from .store import STAGING

CONFIG = web.AppKey("model_registry_config", RegistryConfig)
CHUNK = 256 * 1024
HISTORY = 50
T = TypeVar("T")


def answers_refusals(handler: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The registry's refusals as JSON errors with their status (errors.STATUS), message as it is."""

    @functools.wraps(handler)
    async def handle(request: web.Request, **parts: Any) -> T:
        try:
            return await handler(request, **parts)
        except ModelRegistryError as exc:
            raise ApiError(status_of(exc), str(exc)) from None

    return handle


class VersionSummary(BaseModel):
    version: str
    task: str
    parent_version: Optional[str]
    run_id: Optional[str]
    data_snapshot_id: Optional[str]
    metrics: dict[str, float]
    created_ts: float
    created_by: str


class ModelSummary(BaseModel):
    name: str
    task: str
    versions: int
    latest: str = Field(description="the version registered last")
    aliases: dict[str, str] = Field(description="alias -> version")


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(BaseModel):
    name: str
    versions: list[VersionSummary] = Field(description="oldest first")
    aliases: list[Alias]
    alias_history: list[AliasChange] = Field(description=f"the latest {HISTORY} moves, newest first")


class VersionDetail(ModelVersion):
    lineage: list[LineageStep] = Field(description="this version first, then its parents")


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)


class UploadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: Optional[str] = Field(None, max_length=200, description="default: the manifest's training_run_id")
    data_snapshot_id: Optional[str] = Field(None, max_length=200)


class AtQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: Optional[float] = Field(None, description="device time (Unix seconds); default: now")


class DeviceModels(BaseModel):
    device_id: str
    at: float
    models: list[ActiveModel] = Field(description="by slot")


def install(app: web.Application, settings: ServiceSettings, engine: Engine) -> None:
    """The registry and the predictor on ``app`` (configured from the environment: :mod:`.config`)."""
    config = RegistryConfig.from_env(settings.data_dir)
    registry = ModelRegistry(engine, config.store_dir)
    app[CONFIG], app[MODEL_REGISTRY] = config, registry
    app[PREDICTOR] = Predictor(registry, config.trusted_keys, cache_size=config.cache_size,
                               threads=config.inference_threads)

    async def close_predictor(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(app[PREDICTOR].close)

    app.cleanup_ctx.append(close_predictor)


def register(api: ApiRegistry[Role]) -> None:
    viewer, operator = {"role": Role.VIEWER, "tag": "models"}, {"role": Role.OPERATOR, "tag": "models"}
    api.route("GET", "/models", summary="Registered models with their aliases", response=ModelList, **viewer)(
        list_models)
    api.route("POST", "/models", summary="Register a signed model package (.tar body)", query=UploadQuery,
              response=ModelVersion, status=201, errors=(409, 413, 415, 422), **operator,
              description="The body is the package as a .tar archive (application/x-tar; gzip allowed). It must be "
                          "signed by a trusted key and every artifact must match its sha256.")(upload)
    api.route("GET", "/models/{name}", summary="A model's versions and aliases", response=ModelDetail,
              errors=(404,), **viewer)(get_model)
    api.route("GET", "/models/{name}/{version}", summary="A version: manifest, metrics and lineage",
              response=VersionDetail, errors=(404,), **viewer)(get_version)
    api.route("PUT", "/models/{name}/aliases/{alias}", summary="Point an alias at a version", body=AliasIn,
              response=Alias, errors=(404,), **operator)(put_alias)
    api.route("POST", "/models/{name}/{version}/predict", summary="Try a version out on one input",
              response=Prediction, errors=(400, 404, 413, 415, 422), **viewer,
              description="Camera models take an image/jpeg or image/png body and answer detections in image "
                          'pixels; risk models take application/json {"features": {name: value}} or '
                          '{"rows": [[...]]} and answer scores. With the model\'s lineage and timings.')(predict)
    api.route("GET", "/devices/{device_id}/models", summary="What each slot of a device ran at a time, with lineage",
              query=AtQuery, response=DeviceModels, **viewer)(device_models)


@answers_refusals
async def list_models(request: web.Request) -> ModelList:
    def read(registry: ModelRegistry) -> ModelList:
        out = []
        for name in registry.names():
            versions = registry.versions(name)
            out.append(ModelSummary(name=name, task=versions[-1].task, versions=len(versions),
                                    latest=versions[-1].version,
                                    aliases={a.alias: a.version for a in registry.aliases(name)}))
        return ModelList(models=out)

    return await asyncio.to_thread(read, request.app[MODEL_REGISTRY])


@answers_refusals
async def get_model(request: web.Request, name: str) -> ModelDetail:
    def read(registry: ModelRegistry) -> ModelDetail:
        versions = registry.versions(name)
        if not versions:
            raise ModelNotFound(f"no model {name}")
        return ModelDetail(name=name, versions=[VersionSummary.model_validate(v.model_dump()) for v in versions],
                           aliases=registry.aliases(name), alias_history=registry.alias_history(name, limit=HISTORY))

    return await asyncio.to_thread(read, request.app[MODEL_REGISTRY])


@answers_refusals
async def get_version(request: web.Request, name: str, version: str) -> VersionDetail:
    def read(registry: ModelRegistry) -> VersionDetail:
        found = registry.get(name, version)
        return VersionDetail(**found.model_dump(), lineage=registry.lineage(name, version))

    return await asyncio.to_thread(read, request.app[MODEL_REGISTRY])


@answers_refusals
async def put_alias(request: web.Request, name: str, alias: str, body: AliasIn) -> Alias:
    return await asyncio.to_thread(request.app[MODEL_REGISTRY].set_alias, name, alias, body.version,
                                   current_session(request).name)


@answers_refusals
async def device_models(request: web.Request, device_id: str, query: AtQuery) -> DeviceModels:
    at = time.time() if query.at is None else query.at
    models = await asyncio.to_thread(request.app[MODEL_REGISTRY].running_at, device_id, at)
    return DeviceModels(device_id=device_id, at=at, models=models)


@answers_refusals
async def upload(request: web.Request, query: UploadQuery) -> ModelVersion:
    """Streams the archive to the store's staging directory, then verifies and registers it (in a thread)."""
    if request.content_type not in ("application/x-tar", "application/octet-stream", "application/gzip"):
        raise ApiError(415, f"send the package as application/x-tar, not {request.content_type or 'no type'}")
    config, registry = request.app[CONFIG], request.app[MODEL_REGISTRY]
    staging = config.store_dir / STAGING
    await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".tar", dir=staging)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in _body(request, config.max_package_bytes):
                await asyncio.to_thread(out.write, chunk)
        return await asyncio.to_thread(registry.register, path, config.trusted_keys, current_session(request).name,
                                       run_id=query.run_id, data_snapshot_id=query.data_snapshot_id)
    except PackageRefused as exc:
        raise ApiError(422, "package refused", [str(exc).replace(str(staging), "<upload>")]) from None
    finally:
        path.unlink(missing_ok=True)


@answers_refusals
async def predict(request: web.Request, name: str, version: str) -> Prediction:
    """One input through the version: 415 for a type the model does not take, 400 for one that does not decode."""
    kind = input_kind(request.content_type)
    if kind is None:
        raise ApiError(415, f"unsupported Content-Type {request.content_type or '(none)'}: send image/jpeg or "
                            "image/png to a camera model, application/json to a risk model")
    config, predictor = request.app[CONFIG], request.app[PREDICTOR]
    limit = config.max_image_bytes if kind == "image" else config.max_features_bytes
    body = b"".join([chunk async for chunk in _body(request, limit)])
    if kind == "image":
        return await predictor.image(name, version, body)
    return await predictor.risk(name, version, _risk_input(body))


def _risk_input(body: bytes) -> RiskInput:
    try:
        return RiskInput.model_validate(parse_json(body))
    except BodyError as exc:
        raise ApiError(exc.status, str(exc), exc.details) from None
    except ValidationError as exc:
        raise ApiError(422, "invalid body", [f"body.{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                                             for e in exc.errors()]) from None


async def _body(request: web.Request, limit: int) -> AsyncIterator[bytes]:
    """The body in chunks, 413 as soon as it passes ``limit`` (or announces it will)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "the request body is too large", [f"at most {limit} bytes"])
    seen = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        seen += len(chunk)
        if seen > limit:
            raise ApiError(413, "the request body is too large", [f"at most {limit} bytes"])
        yield chunk

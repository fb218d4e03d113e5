"""``/api/v1/training``: pipelines (read, put), manual runs, jobs with their progress, metrics and logs.

Viewers read; operators change pipelines and start runs. Everything is read
from the cloud database, so any replica answers for any worker's jobs. A
manual run answers 202 with the queued job; 409 while the pipeline has an
unfinished job (or takes no manual runs).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Optional

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from cloud_sync.registry.roles import Role
from web_common.api import ApiError, ApiRegistry

from .errors import InvalidPipeline, ManualRunsOff, PipelineBusy, UnknownJob, UnknownPipeline
from .jobs import Job, LogOut
from .kinds import load_kind_modules
from .pipelines import Pipeline, PipelineIn
from .queue import JobQueue, make_huey
from .states import State, StateName

TRAINING = web.AppKey("training", JobQueue)


class PipelineList(BaseModel):
    pipelines: list[Pipeline]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict, description="handed to the steps as ctx.params")
    max_attempts: Optional[int] = Field(None, ge=1, le=100)


class JobQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: Optional[str] = None
    state: Optional[StateName] = None
    limit: int = Field(100, ge=1, le=1000)


class JobList(BaseModel):
    jobs: list[Job] = Field(description="Newest first")


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_id: int = Field(0, ge=0, description="only lines after this one (the last id of the previous page)")
    limit: int = Field(500, ge=1, le=10_000)


class LogPage(BaseModel):
    lines: list[LogOut]


def install(app: web.Application, engine: Engine, data_dir: Path, jobs_url: str | None) -> None:
    """Gives the app its job queue (huey on ``jobs_url``, else SQLite in ``data_dir``), closed at cleanup."""
    load_kind_modules()
    queue = JobQueue(make_huey(jobs_url, data_dir), engine, data_dir)
    app[TRAINING] = queue

    async def close(_: web.Application) -> AsyncIterator[None]:
        yield
        queue.close()

    app.cleanup_ctx.append(close)


def register(api: ApiRegistry[Role]) -> None:
    viewer, operator = {"role": Role.VIEWER, "tag": "training"}, {"role": Role.OPERATOR, "tag": "training"}
    api.route("GET", "/training/pipelines", summary="Every training pipeline", response=PipelineList,
              **viewer)(list_pipelines)
    api.route("GET", "/training/pipelines/{name}", summary="One pipeline", response=Pipeline, errors=(404,),
              **viewer)(get_pipeline)
    api.route("PUT", "/training/pipelines/{name}", summary="Create or replace a pipeline", body=PipelineIn,
              response=Pipeline, errors=(422,), **operator)(put_pipeline)
    api.route("POST", "/training/pipelines/{name}/runs", summary="Start a run of the pipeline now", body=RunIn,
              response=Job, status=202, errors=(404, 409), **operator)(start_run)
    api.route("GET", "/training/jobs", summary="Training jobs, newest first", query=JobQuery, response=JobList,
              **viewer)(list_jobs)
    api.route("GET", "/training/jobs/{job_id}", summary="One job: state, progress, step, metrics, timings",
              response=Job, errors=(404,), **viewer)(get_job)
    api.route("GET", "/training/jobs/{job_id}/logs", summary="A job's log lines, oldest first", query=LogQuery,
              response=LogPage, errors=(404,), **viewer)(job_logs)


async def list_pipelines(request: web.Request) -> PipelineList:
    return PipelineList(pipelines=await asyncio.to_thread(request.app[TRAINING].pipelines.list))


async def get_pipeline(request: web.Request, name: str) -> Pipeline:
    try:
        return await asyncio.to_thread(request.app[TRAINING].pipelines.get, name)
    except UnknownPipeline as exc:
        raise ApiError(404, str(exc)) from None


async def put_pipeline(request: web.Request, name: str, body: PipelineIn) -> Pipeline:
    try:
        return await asyncio.to_thread(request.app[TRAINING].pipelines.put, name, body)
    except InvalidPipeline as exc:
        raise ApiError(422, str(exc)) from None


async def start_run(request: web.Request, name: str, body: RunIn) -> Job:
    """The job is queued; a worker runs it. Poll ``GET /training/jobs/{id}`` for its progress."""
    queue = request.app[TRAINING]
    try:
        return await asyncio.to_thread(queue.submit, name, params=body.params, max_attempts=body.max_attempts)
    except UnknownPipeline as exc:
        raise ApiError(404, str(exc)) from None
    except (PipelineBusy, ManualRunsOff) as exc:
        raise ApiError(409, str(exc)) from None


async def list_jobs(request: web.Request, query: JobQuery) -> JobList:
    jobs = request.app[TRAINING].jobs
    state = State(query.state) if query.state is not None else None
    return JobList(jobs=await asyncio.to_thread(jobs.list, pipeline=query.pipeline, state=state, limit=query.limit))


async def get_job(request: web.Request, job_id: str) -> Job:
    try:
        return await asyncio.to_thread(request.app[TRAINING].jobs.get, _job_id(job_id))
    except UnknownJob as exc:
        raise ApiError(404, str(exc)) from None


async def job_logs(request: web.Request, job_id: str, query: LogQuery) -> LogPage:
    jobs = request.app[TRAINING].jobs
    try:
        lines = await asyncio.to_thread(jobs.logs, _job_id(job_id), after_id=query.after_id, limit=query.limit)
    except UnknownJob as exc:
        raise ApiError(404, str(exc)) from None
    return LogPage(lines=lines)


def _job_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise ApiError(404, f"no training job {text!r}")
    return int(text)

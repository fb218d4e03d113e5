"""``/api/v1/training`` through the real service (SQLite and PostgreSQL): pipelines put and read, a manual
run answered 202 and run by a worker, the job with its progress, metrics, timings and logs, roles, errors,
and the routes in the OpenAPI document."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.training import JobQueue, embedded_worker, make_huey
from tests.cloud.test_service_harness import AdminClient, Cloud, cloud  # noqa: F401

from . import kinds
from .conftest import FAST, WAIT_S

PIPELINE = {"kind": kinds.KIND, "options": {"c": 0.5},
            "triggers": [{"type": "manual"}, {"type": "labels", "min_new": 100}]}


async def _until_finished(admin: AdminClient, job_id: int) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = (await admin.call("GET", f"/training/jobs/{job_id}")).body
        if job["ended_ts"] is not None:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {WAIT_S} s")


async def test_pipelines_runs_jobs_and_logs(cloud: Cloud, tmp_path: Path) -> None:
    kinds.add_readings(cloud.engine, 300)
    admin = cloud.admin()
    put = await admin.call("PUT", "/training/pipelines/hr", PIPELINE)
    assert put.status == 200, put
    assert put.body["options"] == {"c": 0.5, "step_s": 0.0, "marker": None, "hold": None, "min_accuracy": 0.0}
    assert put.body["triggers"][1] == {"type": "labels", "min_new": 100}
    bad = await admin.call("PUT", "/training/pipelines/hr", {**PIPELINE, "triggers": [{"type": "schedule",
                                                                                        "cron": "daily"}]})
    assert bad.status == 422 and any("five-field cron" in d for d in bad.body["details"])
    unknown = await admin.call("PUT", "/training/pipelines/x", {"kind": "nope"})
    assert unknown.status == 422 and "no pipeline kind 'nope'" in unknown.body["error"]
    listed = (await admin.call("GET", "/training/pipelines")).body["pipelines"]
    assert [p["name"] for p in listed] == ["hr"]
    assert (await admin.call("GET", "/training/pipelines/none")).status == 404

    viewer = AdminClient(cloud.http, {"Authorization": "Bearer " + ApiTokens(cloud.engine).create(
        "viewer", Role.VIEWER, created_by="tests").token})
    assert (await viewer.call("GET", "/training/pipelines/hr")).status == 200
    assert (await viewer.call("POST", "/training/pipelines/hr/runs", {})).status == 403
    assert (await viewer.call("PUT", "/training/pipelines/hr", PIPELINE)).status == 403

    run = await admin.call("POST", "/training/pipelines/hr/runs", {"params": {"why": "test"}})
    assert run.status == 202, run
    assert run.body["state"] == "queued" and run.body["trigger"] == "manual" and run.body["params"] == {"why": "test"}
    busy = await admin.call("POST", "/training/pipelines/hr/runs", {})
    assert busy.status == 409 and str(run.body["id"]) in busy.body["error"]
    assert (await admin.call("POST", "/training/pipelines/none/runs", {})).status == 404

    queue = JobQueue(make_huey(None, tmp_path / "data"), cloud.engine, tmp_path / "data", FAST)
    try:
        with embedded_worker(queue):
            job = await _until_finished(admin, run.body["id"])
    finally:
        queue.close()
    assert job["state"] == "done" and job["progress"] == 1.0 and job["attempt"] == 1
    assert job["metrics"]["accuracy"] > 0.9 and set(job["timings"]) == {"preprocessing", "training",
                                                                        "evaluating", "packaging"}
    assert job["started_ts"] <= job["ended_ts"] and job["duration_s"] > 0 and job["reason"] == "manual"
    page = (await admin.call("GET", "/training/jobs?pipeline=hr&state=done&limit=5")).body["jobs"]
    assert [j["id"] for j in page] == [job["id"]]
    assert (await admin.call("GET", "/training/jobs?state=failed")).body["jobs"] == []
    assert (await admin.call("GET", "/training/jobs?state=bogus")).status == 400
    logs = (await viewer.call("GET", f"/training/jobs/{job['id']}/logs")).body["lines"]
    assert "read 300 hr readings" in [line["line"] for line in logs] and logs[-1]["line"] == "attempt 1 done"
    later = (await admin.call("GET", f"/training/jobs/{job['id']}/logs?after_id={logs[-2]['id']}")).body["lines"]
    assert [line["id"] for line in later] == [logs[-1]["id"]]
    for missing in ("/training/jobs/99999", "/training/jobs/abc", "/training/jobs/99999/logs"):
        assert (await admin.call("GET", missing)).status == 404, missing

    document = (await admin.call("GET", "/openapi.json")).body
    for path in ("/api/v1/training/pipelines", "/api/v1/training/pipelines/{name}",
                 "/api/v1/training/pipelines/{name}/runs", "/api/v1/training/jobs",
                 "/api/v1/training/jobs/{job_id}", "/api/v1/training/jobs/{job_id}/logs"):
        assert path in document["paths"], path
    assert document["paths"]["/api/v1/training/pipelines/{name}/runs"]["post"]["x-role"] == "operator"

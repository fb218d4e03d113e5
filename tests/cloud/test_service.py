"""The service as a whole (SQLite and PostgreSQL): probes, /metrics, housekeeping, and the OpenAPI document
(valid OpenAPI 3.1 naming every route the app serves, then schemathesis against the live server with an
admin token: no 5xx, every answer as documented)."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema_rs
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import func, select

from cloud_sync.registry.nonces import NonceLedger
from cloud_sync.registry.sessions import AdminSessions
from cloud_sync.registry.tables import admin_sessions, device_nonces
from cloud_sync.service.app import create_app
from cloud_sync.service.housekeeping import housekeeping
from cloud_sync.service.keys import API, DEVICE_API
from tests.cloud.test_service_harness import Cloud, cloud, readings_batch, settings_for  # noqa: F401
from tests.dashboard.test_openapi import refs

FAMILIES = {
    "siteguard_cloud_ingest_rows", "siteguard_cloud_ingest_bytes", "siteguard_cloud_ingest_batches",
    "siteguard_cloud_ingest_duplicate_chunks",
    "siteguard_cloud_rejects", "siteguard_cloud_device_online", "siteguard_cloud_device_heartbeat_age_seconds",
    "siteguard_cloud_device_lag_seconds", "siteguard_cloud_device_backlog_rows", "siteguard_cloud_device_backlog_bytes",
}
FUZZ_EXAMPLES = 8  # per operation; derandomized
FUZZ_EXCLUDED = {("POST", f"{DEVICE_API}/devices/{{device_id}}/batches")}  # zstd bodies: test_auth.py sends them


async def test_probes_answer_without_a_session(cloud: Cloud) -> None:
    for path in ("/healthz", "/readyz"):
        async with cloud.http.get(path) as response:
            assert response.status == 200 and (await response.json())["ok"] is True, path


async def test_metrics_export_the_named_series(cloud: Cloud) -> None:
    device = await cloud.register("edge-1")
    await device.heartbeat(lanes={"bulk": {"backlog_rows": 7, "backlog_bytes": 700}})
    body = readings_batch("edge-1", rows=12)
    assert (await device.batch(body)).status == 200
    assert (await device.batch(body)).status == 200  # again: duplicates
    await device.batch(b"garbage")
    await device.post("heartbeat", b"{}", device="edge-2")
    async with cloud.http.get("/metrics") as response:
        assert response.status == 401
    async with cloud.http.get("/metrics", headers={"Authorization": f"Bearer {cloud.token}"}) as response:
        assert response.status == 200
        text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert FAMILIES <= set(families), FAMILIES - set(families)
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert values[("siteguard_cloud_ingest_rows_total", (("device", "edge-1"), ("table", "readings")))] == 12
    assert values[("siteguard_cloud_ingest_duplicate_chunks_total", (("device", "edge-1"),))] == 1
    assert values[("siteguard_cloud_ingest_bytes_total", (("device", "edge-1"),))] == 2 * len(body)
    assert values[("siteguard_cloud_rejects_total", (("reason", "batch_zstd"),))] == 1
    assert values[("siteguard_cloud_rejects_total", (("reason", "other_device"),))] == 1
    assert values[("siteguard_cloud_device_online", (("device", "edge-1"), ("site", "plant-a")))] == 1
    assert values[("siteguard_cloud_device_backlog_rows", (("device", "edge-1"), ("lane", "bulk")))] == 7
    lag = values[("siteguard_cloud_device_lag_seconds", (("device", "edge-1"),))]
    assert abs(lag - (time.time() - (1.7e9 + 12))) < 60  # the newest reading is at 1.7e9 + 12


async def test_housekeeping_drops_stale_nonces_and_sessions(cloud: Cloud) -> None:
    device = await cloud.register("edge-1")
    for _ in range(3):
        await device.heartbeat()
    assert (await cloud.browser_signed_in()).status == 200
    counts = [select(func.count()).select_from(t) for t in (device_nonces, admin_sessions)]
    nonces = NonceLedger(cloud.engine)
    sessions = AdminSessions(cloud.engine, idle_s=60, max_s=60)
    with cloud.engine.connect() as conn:
        assert [conn.execute(c).scalar() for c in counts] == [3, 1]
    context = housekeeping(nonces, sessions, 60, clock=lambda: time.time() + 2 * 86400)(web.Application())
    await anext(context)  # the first round starts at once
    try:
        for _ in range(200):
            with cloud.engine.connect() as conn:
                left = [conn.execute(c).scalar() for c in counts]
            if left == [0, 0]:
                break
            await asyncio.sleep(0.01)
        assert left == [0, 0]
    finally:
        await anext(context, None)


def check_document(doc: dict[str, Any], routes: set[tuple[str, str]]) -> None:
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    for schema in schemas.values():
        jsonschema_rs.meta.validate(schema)
    assert all(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in schemas for r in refs(doc))
    operation_ids = []
    documented = set()
    for path, item in doc["paths"].items():
        assert path.startswith((API + "/", DEVICE_API + "/devices/")), path
        for method, op in item.items():
            documented.add((method.upper(), path))
            operation_ids.append(op["operationId"])
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            if op["security"]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    assert len(operation_ids) == len(set(operation_ids))
    assert documented == {(m, p) for m, p in routes if p.startswith((API + "/", DEVICE_API + "/"))}
    batches = doc["paths"][f"{DEVICE_API}/devices/{{device_id}}/batches"]["post"]
    assert batches["security"] == [{"deviceSignature": []}]
    assert "application/vnd.siteguard.batch+zstd" in batches["requestBody"]["content"]
    assert {"bearer": []} in doc["paths"][f"{API}/devices"]["post"]["security"]


def fuzz(doc: dict[str, Any], base_url: str, token: str) -> tuple[list[str], Counter[tuple[str, int]]]:
    """schemathesis on every operation but FUZZ_EXCLUDED as an admin token: the failures, and the statuses."""
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in FUZZ_EXCLUDED:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def call(case: schemathesis.Case) -> None:
            answer = case.call_and_validate(base_url=base_url, session=http,
                                            checks=[not_a_server_error, response_schema_conformance])
            statuses[(case.operation.label, answer.status_code)] += 1

        try:
            call()
        except Exception as exc:  # one operation's failure is reported, the others still run
            failures.append(f"{operation.label}: {exc}")
    return failures, statuses


async def test_openapi_document_names_every_route_and_the_server_keeps_to_it(cloud: Cloud, tmp_path: Path) -> None:
    await cloud.register("edge-1")
    got = await cloud.admin().call("GET", "/openapi.json")
    assert got.status == 200
    app = create_app(settings_for(cloud.engine.url.render_as_string(hide_password=False), tmp_path), cloud.engine)
    check_document(got.body, {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource})
    failures, statuses = await asyncio.to_thread(fuzz, got.body, cloud.url, cloud.token)
    assert not failures, "\n\n".join(failures)
    assert statuses[("GET /api/v1/devices", 200)] > 0 and statuses[("GET /api/v1/devices/{device_id}", 404)] > 0

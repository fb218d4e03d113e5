"""The OpenAPI document of /api/v1 on the running daemon: valid OpenAPI 3.1 that names every
endpoint, then schemathesis against the live server as a signed-in supervisor: no 5xx, and
every answer matches its documented schema."""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs  # schemathesis' own JSON Schema engine
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from yarl import URL

from edge_runtime.dashboard.keys import API, CSRF_HEADER, SESSION_COOKIE
from tests.broker import Mosquitto
from tests.dashboard.harness import dashboard_site, signed_in

EXAMPLES = 12  # per operation; derandomized, so every run sends the same requests
EXCLUDED = {
    ("DELETE", f"{API}/session"),  # would sign the fuzzer out
    ("GET", f"{API}/events"),  # an endless stream: test_live.py reads it
    ("POST", f"{API}/accounts"),  # an argon2 hash per example
}
KNOWN = {"worker_id": "w03", "zone_id": "tank-2"}  # ids that exist on the demo site
_PATH_PARAM = re.compile(r"{(\w+)}")
SITE_ENDPOINTS = {
    ("get", "/site"), ("get", "/workers"), ("get", "/workers/{worker_id}"), ("get", "/cameras"),
    ("get", "/cameras/{camera_id}/frame.jpg"), ("get", "/events"),
}


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def check_document(doc: dict[str, Any]) -> None:
    """Structural checks, plus openapi-spec-validator where it is installed."""
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    for schema in schemas.values():
        jsonschema_rs.meta.validate(schema)
    assert all(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in schemas for r in refs(doc)), \
        sorted(set(refs(doc)))
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith(API + "/"), path
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            if op["security"]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    assert len(operation_ids) == len(set(operation_ids))
    for method, path in SITE_ENDPOINTS:
        op = doc["paths"][API + path][method]
        assert op["x-role"] == "viewer" and op["security"] == [{"session": []}], path
    assert "image/jpeg" in doc["paths"][f"{API}/cameras/{{camera_id}}/frame.jpg"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in doc["paths"][f"{API}/events"]["get"]["responses"]["200"]["content"]
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(doc)


def fuzz(doc: dict[str, Any], base_url: str, cookie: str, csrf: str) -> tuple[list[str], Counter[tuple[str, int]]]:
    """schemathesis on every operation but EXCLUDED (with random path parameters, then again with
    KNOWN ones where it has them): the failures, described, and the statuses answered."""
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    session = requests.Session()
    session.headers[CSRF_HEADER] = csrf
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()

    def run(label: str, strategy: SearchStrategy[schemathesis.Case]) -> None:
        @given(case=strategy)
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=base_url, session=session, cookies={SESSION_COOKIE: cookie},
                                              checks=[not_a_server_error, response_schema_conformance])
            statuses[(case.operation.label, response.status_code)] += 1

        try:
            check()
        except Exception as exc:  # each operation's failure is reported, the others still run
            failures.append(f"{label}: {exc}")

    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        run(operation.label, operation.as_strategy())
        names = _PATH_PARAM.findall(operation.path)
        if names and all(n in KNOWN for n in names):
            run(f"{operation.label} (known ids)", operation.as_strategy(path_parameters={n: KNOWN[n] for n in names}))
    return failures, statuses


@pytest.mark.slow
async def test_openapi_document_is_valid_and_the_server_keeps_to_it(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True) as (_site, _daemon, url):
        async with signed_in(url, "sam") as client:
            status, doc = await client.get(f"{API}/openapi.json")
            assert status == 200, doc
            check_document(doc)
            cookie = client.session.cookie_jar.filter_cookies(URL(url))[SESSION_COOKIE].value
            assert client.csrf is not None
            failures, statuses = await asyncio.to_thread(fuzz, doc, url, cookie, client.csrf)  # server: this loop
            assert not failures, "\n\n".join(failures)
            for label in ("GET /api/v1/site", "GET /api/v1/workers", "GET /api/v1/cameras"):
                assert statuses[(label, 200)] > 0, statuses  # signed in all along
            assert statuses[("GET /api/v1/workers/{worker_id}", 404)] > 0, statuses
            assert statuses[("GET /api/v1/workers/{worker_id}", 200)] > 0, statuses

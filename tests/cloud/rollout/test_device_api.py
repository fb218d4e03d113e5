"""The rollout's device endpoints on the real service (SQLite and PostgreSQL) with real signed requests:
the desired state, a package download resumed with Range, reports into the activity record, the first
rollback report halting the rollout for the other devices' next poll, and forged or replayed requests
refused."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.cloud.model_registry.packages import CAMERA, Signer
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401

from .fleet import ENGINE_FILE, ORIN, PI, Edge, add_devices, edge, register_versions, report, rolled_back, slot


@pytest.fixture
async def fleet(cloud: Cloud, signer: Signer, packages: Path) -> dict[str, Edge]:
    register_versions(cloud.engine, cloud.data_dir / "models", signer, packages)
    credentials = add_devices(cloud.engine, {"j1": ("jetson", ORIN), "j2": ("jetson", ORIN), "j3": ("jetson", ORIN),
                                             "p1": ("pi", PI)})
    pin = await cloud.admin().call("PUT", "/pins", {"slot": "camera", "scope": "site", "key": "plant-a",
                                                    "model": CAMERA, "version": "1.0.0"})
    assert pin.status == 200, pin
    return {d: edge(cloud, c) for d, c in credentials.items()}


async def start(cloud: Cloud, **options: object) -> dict[str, object]:
    got = await cloud.admin().call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0",
                                                         "canary_share": 0.5, **options})
    assert got.status == 201, got
    return got.body  # type: ignore[no-any-return]


async def test_desired_state_and_a_download_resumed_with_range(cloud: Cloud, fleet: dict[str, Edge]) -> None:
    rollout = await start(cloud)
    canary = next(d for d in rollout["canary_devices"] if d.startswith("j"))  # type: ignore[attr-defined]
    device = fleet[canary]
    got = await device.desired()
    assert got.status == 200, got
    model = got.body["models"]["camera"]
    assert (model["version"], model["stage"], model["rollout_id"], model["artifact"]) == (
        "1.1.0", "canary", rollout["id"], ENGINE_FILE)
    assert got.body["report_interval_s"] == 30 and got.body["halted"] == []

    status, whole, headers = await device.get(model["url"])
    assert status == 200 and headers["Content-Type"] == "application/x-tar"
    assert len(whole) == model["package_bytes"] and hashlib.sha256(whole).hexdigest() == model["package_sha256"]
    assert headers["X-SiteGuard-Package-Sha256"] == model["package_sha256"]
    cut = len(whole) // 3  # the link dropped here: the agent asks for the rest
    status, rest, headers = await device.get(model["url"], Range=f"bytes={cut}-")
    assert status == 206 and headers["Content-Range"] == f"bytes {cut}-{len(whole) - 1}/{len(whole)}"
    assert whole[:cut] + rest == whole

    baseline = (await fleet["p1" if canary != "p1" else "j1"].desired()).body
    other = next(d for d in fleet if d not in rollout["canary_devices"])  # type: ignore[operator]
    assert (await fleet[other].desired()).body["models"]["camera"]["version"] == "1.0.0"
    assert baseline["models"]["camera"]["artifact"] in ("model_int8.tflite", ENGINE_FILE)
    refused, _, _ = await fleet[other].get(fleet[other].path(f"packages/{CAMERA}/1.1.0"))
    assert refused == 403  # neither desired for it nor ever run there
    assert (await fleet[other].get(fleet[other].path(f"packages/{CAMERA}/1.0.0")))[0] == 200


async def test_forged_and_replayed_device_requests_are_refused(cloud: Cloud, fleet: dict[str, Edge]) -> None:
    j1, j2 = fleet["j1"], fleet["j2"]
    path = j1.path("desired")
    headers = j1.headers("GET", path)
    async with cloud.http.get(path, headers=headers) as r:
        assert r.status == 200
    async with cloud.http.get(path, headers=headers) as r:  # the same nonce again
        assert r.status == 401 and (await r.json())["error"] == "replayed nonce"
    async with cloud.http.get(path, headers=j2.headers("GET", path)) as r:  # j2 asking for j1's
        assert r.status == 403
    async with cloud.http.get(path, headers=j1.headers("GET", j1.path("report"))) as r:  # signed for another path
        assert r.status == 401
    async with cloud.http.get(path, headers=j1.headers("GET", path, now=time.time() - 3600)) as r:
        assert r.status == 401
    async with cloud.http.get(path) as r:
        assert r.status == 401
    package = j1.path(f"packages/{CAMERA}/1.0.0")
    async with cloud.http.get(package, headers=j1.headers("POST", package)) as r:  # signed as another method
        assert r.status == 401

    report_path = j1.path("report")
    body = json.dumps(report()).encode()
    signed = j1.headers("POST", report_path, body)
    forged = json.dumps(report(events=[rolled_back("1.1.0", None, "forged")])).encode()
    async with cloud.http.post(report_path, data=forged, headers=signed) as r:  # another body than signed
        assert r.status == 401
    async with cloud.http.post(report_path, data=body, headers=signed) as r:
        assert r.status == 200
    async with cloud.http.post(report_path, data=body, headers=signed) as r:
        assert r.status == 401
    bad = b'{"ts": 1, "interval_s": -4}'
    async with cloud.http.post(report_path, data=bad, headers=j1.headers("POST", report_path, bad)) as r:
        assert r.status == 422


async def test_the_first_rollback_report_halts_the_rollout_for_the_next_poll(cloud: Cloud,
                                                                           fleet: dict[str, Edge]) -> None:
    rollout = await start(cloud, canary_share=0.75)
    canaries = rollout["canary_devices"]
    assert len(canaries) == 3  # type: ignore[arg-type]
    first, second = (fleet[d] for d in canaries[:2])  # type: ignore[index]
    assert (await second.desired()).body["models"]["camera"]["version"] == "1.1.0"
    ack = await first.report(report({"camera": slot("rolled_back", "1.0.0", rollout_id=rollout["id"],
                                                    reason="camera worker crashed 3 times in 60 s")},  # type: ignore[arg-type]
                                    [rolled_back("1.1.0", rollout["id"], "camera worker crashed 3 times in 60 s")]))  # type: ignore[arg-type]
    assert ack.status == 200 and ack.body["halted"] == [rollout["id"]]
    nxt = (await second.desired()).body  # the other canary's next poll
    assert nxt["models"]["camera"]["version"] == "1.0.0" and nxt["halted"] == [rollout["id"]]
    shown = (await cloud.admin().call("GET", f"/rollouts/{rollout['id']}")).body
    assert shown["state"] == "halted" and "crashed 3 times" in shown["reason"]
    assert shown["events"][-1]["device_id"] == first.id
    again = await second.report(report(events=[rolled_back("1.1.0", rollout["id"], "too")]))  # type: ignore[arg-type]
    assert again.body["halted"] == []


async def test_reports_fill_the_record_of_what_ran_where(cloud: Cloud, fleet: dict[str, Edge]) -> None:
    rollout = await start(cloud)
    canary = fleet[rollout["canary_devices"][0]]  # type: ignore[index]
    switched = time.time() - 30
    ack = await canary.report(report({"camera": slot("watching", "1.1.0", rollout_id=rollout["id"],  # type: ignore[arg-type]
                                                     since_ts=switched, confirmed=1)}))
    assert ack.status == 200 and ack.body["halted"] == []
    ran = (await cloud.admin().call("GET", f"/devices/{canary.id}/models")).body
    assert [(m["slot"], m["version"], m["from_ts"]) for m in ran["models"]] == [("camera", "1.1.0", switched)]
    before = (await cloud.admin().call("GET", f"/devices/{canary.id}/models?at={switched - 1}")).body
    assert before["models"] == []
    updates = (await cloud.admin().call("GET", f"/devices/{canary.id}/updates")).body
    assert updates["desired"]["models"]["camera"]["version"] == "1.1.0"
    assert updates["report"]["slots"]["camera"]["state"] == "watching"
    assert updates["rollouts"][0]["rollout_id"] == rollout["id"] and updates["rollouts"][0]["activated_ts"]
    assert [(a["slot"], a["version"]) for a in updates["activity"]] == [("camera", "1.1.0")]
    progress = (await cloud.admin().call("GET", f"/rollouts/{rollout['id']}")).body["progress"]
    assert progress["canary_active"] == 1 and progress["confirmed"] == 1
    assert (await cloud.admin().call("GET", "/devices/nope/updates")).status == 404

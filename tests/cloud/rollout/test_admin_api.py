"""The rollout admin API and ``siteguard cloud rollout|pin`` on the real service (SQLite and PostgreSQL):
viewers read and admins change; create, list, show, promote, pause, resume and rollback through the API
and through the command line (over HTTP with an admin token, in a thread beside the service); pins set,
listed and cleared; refusals answered with their reasons."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.roles import Role
from edge_runtime.cli import main
from tests.cloud.model_registry.packages import CAMERA, Signer
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401

from .fleet import ORIN, PI, add_devices, register_versions

VIEWER = ("vera", "viewer-password-1")


@pytest.fixture
async def fleet(cloud: Cloud, signer: Signer, packages: Path) -> Cloud:
    register_versions(cloud.engine, cloud.data_dir / "models", signer, packages)
    add_devices(cloud.engine, {"j1": ("jetson", ORIN), "j2": ("jetson", ORIN), "p1": ("pi", PI)})
    return cloud


async def cli(cloud: Cloud, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = await asyncio.to_thread(main, ["cloud", *args, "--url", cloud.url, "--token", cloud.token])
    out, err = capsys.readouterr()
    return status, out, err


async def test_viewers_read_admins_change(fleet: Cloud) -> None:
    admin = fleet.admin()
    created = await admin.call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0",
                                                     "baseline_version": "1.0.0", "target": {"device_types": ["pi"]}})
    assert created.status == 201, created
    assert created.body["canary_devices"] == ["p1"] and created.body["created_by"].startswith("token:")
    await asyncio.to_thread(AdminAccounts(fleet.engine).add, VIEWER[0], Role.VIEWER, VIEWER[1])
    viewer = fleet.browser()
    try:
        assert (await viewer.sign_in(*VIEWER)).status == 200
        listing = await viewer.call("GET", "/rollouts")
        assert listing.status == 200 and [r["id"] for r in listing.body["rollouts"]] == [created.body["id"]]
        assert (await viewer.call("GET", f"/rollouts/{created.body['id']}")).status == 200
        assert (await viewer.call("GET", "/pins")).status == 200
        assert (await viewer.call("GET", "/devices/p1/updates")).status == 200
        for path in (f"/rollouts/{created.body['id']}/promote", f"/rollouts/{created.body['id']}/rollback"):
            assert (await viewer.call("POST", path, {})).status == 403
        refused = await viewer.call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0"})
        assert refused.status == 403
        assert (await viewer.call("PUT", "/pins", {"slot": "camera", "scope": "site", "key": "plant-a",
                                                   "model": CAMERA, "version": "1.0.0"})).status == 403
    finally:
        await viewer.http.close()

    bad = await admin.call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0",
                                                 "canary_share": 2})
    assert bad.status == 422 and "canary_share" in bad.body["details"][0]
    overlap = await admin.call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "1.1.0"})
    assert overlap.status == 409 and created.body["id"] in overlap.body["error"]
    unknown = await admin.call("POST", "/rollouts", {"slot": "camera", "model": CAMERA, "version": "9.9"})
    assert unknown.status == 404
    assert (await admin.call("POST", "/rollouts/ro-nope/pause", {})).status == 404
    rolled = await admin.call("POST", f"/rollouts/{created.body['id']}/rollback", {"reason": "not today"})
    assert rolled.status == 200 and rolled.body["state"] == "rolled_back"
    again = await admin.call("POST", f"/rollouts/{created.body['id']}/promote", {})
    assert again.status == 409 and "rolled_back" in again.body["error"]
    pin = await admin.call("PUT", "/pins", {"slot": "camera", "scope": "profile", "profile": {"accelerator": "cuda"},
                                            "model": CAMERA, "version": "9.9"})
    assert pin.status == 404
    wrong = await admin.call("PUT", "/pins", {"slot": "camera", "scope": "profile", "key": "x", "model": CAMERA,
                                              "version": "1.0.0"})
    assert wrong.status == 422

    paths = (await admin.call("GET", "/openapi.json")).body["paths"]
    assert paths["/api/v1/rollouts"]["post"]["x-role"] == "admin" and paths["/api/v1/rollouts"]["get"]["x-role"] == "viewer"
    assert paths["/api/v1/rollouts/{rollout_id}/rollback"]["post"]["x-role"] == "admin"
    report = paths["/v1/devices/{device_id}/report"]["post"]
    assert report["security"] == [{"deviceSignature": []}] and "ReportAck" in json.dumps(report["responses"]["200"])
    assert "application/x-tar" in paths["/v1/devices/{device_id}/packages/{name}/{version}"]["get"]["responses"]["200"][
        "content"]


async def test_the_command_line_drives_a_rollout(fleet: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = await cli(fleet, capsys, "pin", "set", "--slot", "camera", "--scope", "profile",
                               "--key", '{"accelerator": "cuda"}', "--model", CAMERA, "--version", "1.0.0")
    assert status == 0, err
    assert (await cli(fleet, capsys, "pin", "set", "--slot", "camera", "--scope", "device_type", "--key", "pi",
                      "--model", CAMERA, "--version", "1.0.0"))[0] == 0
    status, out, _ = await cli(fleet, capsys, "pin", "list")
    pins = [line.split("\t") for line in out.splitlines()]
    assert [p[:5] for p in pins] == [["camera", "device_type", "pi", CAMERA, "1.0.0"],
                                     ["camera", "profile", '{"accelerator":"cuda"}', CAMERA, "1.0.0"]]
    assert all(p[5].startswith("token:") for p in pins)

    status, out, err = await cli(fleet, capsys, "rollout", "create", "--slot", "camera", "--model", CAMERA,
                                 "--version", "1.1.0", "--canary-share", "0.3", "--healthy-period", "60",
                                 "--min-confirmed", "2", "--latency-budget-ms", "25")
    assert status == 0, err
    created = json.loads(out)
    assert created["baseline_version"] == "1.0.0" and created["latency_budget_ms"] == 25
    assert sorted(created["canary_devices"])[1] == "p1" and f"rollout {created['id']}" in err
    rollout_id = created["id"]

    status, out, _ = await cli(fleet, capsys, "rollout", "list")
    header, line = out.splitlines()
    assert header.split()[:6] == ["ID", "SLOT", "MODEL", "VERSION", "BASELINE", "STATE"]
    assert line.split()[:6] == [rollout_id, "camera", CAMERA, "1.1.0", "1.0.0", "canary"]
    assert line.split()[7:9] == ["0/2", "0/2"]

    for action, state in (("pause", "paused"), ("resume", "canary"), ("promote", "promoted"),
                          ("rollback", "rolled_back")):
        status, _, err = await cli(fleet, capsys, "rollout", action, rollout_id, "--reason", f"{action} test")
        assert status == 0 and f"rollout {rollout_id} is {state}" in err, err
    status, out, _ = await cli(fleet, capsys, "rollout", "show", rollout_id)
    shown = json.loads(out)
    assert [e["kind"] for e in shown["events"]] == ["created", "paused", "resumed", "promoted", "rolled_back"]
    assert shown["reason"] == "rollback test"

    status, _, err = await cli(fleet, capsys, "rollout", "promote", rollout_id)
    assert status == 1 and "refused: 409" in err and "cannot promote" in err
    status, _, err = await cli(fleet, capsys, "rollout", "show", "ro-nope")
    assert status == 1 and "refused: 404" in err
    assert (await cli(fleet, capsys, "pin", "clear", "--slot", "camera", "--scope", "profile", "--key",
                      '{"accelerator":"cuda"}'))[0] == 0
    status, _, err = await cli(fleet, capsys, "pin", "clear", "--slot", "camera", "--scope", "site", "--key", "x")
    assert status == 1 and "no site pin" in err
    status = await asyncio.to_thread(main, ["cloud", "rollout", "list", "--url", fleet.url, "--token", "sgadm1-no"])
    assert status == 1 and "refused: 401" in capsys.readouterr().err

"""The model registry's admin API and try-out API on the real service (SQLite and PostgreSQL): uploads,
versions, aliases, lineage; what ran on a device from real signed heartbeats; predictions on a real JPEG."""
from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.roles import Role
from cloud_sync.service.keys import API
from tests.cloud.model_registry.packages import (
    CAMERA, RISK, RISK_FEATURES, Signer, camera_package, risk_package, risk_pipeline, site_jpeg, tar_bytes,
)
from tests.cloud.test_service_harness import AdminClient, Answer, Cloud, answer, cloud  # noqa: F401


async def send(client: AdminClient, method: str, path: str, data: bytes, content_type: str | None,
               **query: str) -> Answer:
    headers = {**client.headers, **({"Content-Type": content_type} if content_type else {})}
    async with client.http.request(method, API + path, data=data, headers=headers, params=query) as r:
        return await answer(r)


async def upload(cloud: Cloud, root: Path, **query: str) -> Answer:
    return await send(cloud.admin(), "POST", "/models", tar_bytes(root), "application/x-tar", **query)


async def test_upload_versions_aliases_and_lineage(cloud: Cloud, signer: Signer, packages: Path) -> None:
    admin = cloud.admin()
    got = await upload(cloud, camera_package(packages, signer, "1.0.0"), data_snapshot_id="snap-a")
    assert got.status == 201, got
    assert got.body["version"] == "1.0.0" and got.body["data_snapshot_id"] == "snap-a"
    assert got.body["created_by"].startswith("token:")
    assert (await upload(cloud, camera_package(packages, signer, "1.1.0", parent="1.0.0"), run_id="job-7")).status == 201

    again = await upload(cloud, camera_package(packages / "x", signer, "1.0.0"))
    assert again.status == 409 and "registered already" in again.body["error"]
    root = camera_package(packages / "y", Signer.new(), "3.0.0")
    refused = await upload(cloud, root)
    assert refused.status == 422 and "signature does not verify" in refused.body["details"][0]
    assert (await send(admin, "POST", "/models", b"{}", "application/json")).status == 415

    assert (await admin.call("PUT", f"/models/{CAMERA}/aliases/champion", {"version": "1.0.0"})).status == 200
    assert (await admin.call("PUT", f"/models/{CAMERA}/aliases/champion", {"version": "1.1.0"})).status == 200
    assert (await admin.call("PUT", f"/models/{CAMERA}/aliases/champion", {"version": "8.8"})).status == 404

    listing = await admin.call("GET", "/models")
    assert listing.body == {"models": [{"name": CAMERA, "task": "detection", "versions": 2, "latest": "1.1.0",
                                        "aliases": {"champion": "1.1.0"}}]}
    detail = (await admin.call("GET", f"/models/{CAMERA}")).body
    assert [v["version"] for v in detail["versions"]] == ["1.0.0", "1.1.0"]
    assert [(h["version"], h["previous_version"]) for h in detail["alias_history"]] == [("1.1.0", "1.0.0"),
                                                                                        ("1.0.0", None)]
    version = (await admin.call("GET", f"/models/{CAMERA}/1.1.0")).body
    assert version["manifest"]["parent_version"] == "1.0.0" and version["metrics"]["map50_fp32"] > 0.5
    assert [(s["version"], s["run_id"], s["data_snapshot_id"]) for s in version["lineage"]] == [
        ("1.1.0", "job-7", None), ("1.0.0", "run-1.0.0", "snap-a")]
    assert (await admin.call("GET", f"/models/{CAMERA}/9.9")).status == 404
    assert (await admin.call("GET", "/models/nothing-here")).status == 404


async def test_viewers_read_and_try_out_operators_change(cloud: Cloud, signer: Signer, packages: Path) -> None:
    assert (await upload(cloud, camera_package(packages, signer, "1.0.0"))).status == 201
    AdminAccounts(cloud.engine).add("vera", Role.VIEWER, "viewer-password-1")
    viewer = cloud.browser()
    try:
        assert (await viewer.sign_in("vera", "viewer-password-1")).status == 200
        assert (await viewer.call("GET", f"/models/{CAMERA}")).status == 200
        moved = await viewer.call("PUT", f"/models/{CAMERA}/aliases/champion", {"version": "1.0.0"})
        assert moved.status == 403
        denied = await send(viewer, "POST", "/models", tar_bytes(camera_package(packages / "v", signer, "2.0.0")),
                            "application/x-tar")
        assert denied.status == 403
        tried = await send(viewer, "POST", f"/models/{CAMERA}/1.0.0/predict", site_jpeg(), "image/jpeg")
        assert tried.status == 200, tried
    finally:
        await viewer.http.close()
    async with aiohttp.ClientSession(cloud.url) as anonymous:
        async with anonymous.post(f"{API}/models/{CAMERA}/1.0.0/predict", data=site_jpeg(),
                                  headers={"Content-Type": "image/jpeg"}) as r:
            assert r.status == 401
        async with anonymous.get(f"{API}/models") as r:
            assert r.status == 401


async def test_predict_on_a_real_jpeg_answers_detections_with_lineage(cloud: Cloud, signer: Signer,
                                                                     packages: Path) -> None:
    await upload(cloud, camera_package(packages, signer, "1.0.0"), data_snapshot_id="snap-a")
    await upload(cloud, camera_package(packages, signer, "1.1.0", parent="1.0.0"))
    admin = cloud.admin()
    first = await send(admin, "POST", f"/models/{CAMERA}/1.1.0/predict", site_jpeg(), "image/jpeg")
    assert first.status == 200, first
    body = first.body
    assert body["image"] == [640, 480] and not body["cached"]
    assert body["model"]["version"] == "1.1.0" and body["model"]["format"] == "tflite"
    assert [s["version"] for s in body["lineage"]] == ["1.1.0", "1.0.0"]
    assert body["lineage"][1]["data_snapshot_id"] == "snap-a"
    labels = sorted(d["label"] for d in body["detections"])
    assert labels.count("person") >= 1 and "no_helmet" in labels, labels
    for d in body["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480 and 0.5 <= d["score"] <= 1
    assert body["timing_ms"]["inference_ms"] > 0 and body["timing_ms"]["load_ms"] > 0

    ok, png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(site_jpeg(), np.uint8), cv2.IMREAD_COLOR))
    second = await send(admin, "POST", f"/models/{CAMERA}/1.1.0/predict", png.tobytes(), "image/png")
    assert second.status == 200 and second.body["cached"] and second.body["timing_ms"]["load_ms"] == 0
    assert len(second.body["detections"]) == len(body["detections"])


async def test_predict_refusals(cloud: Cloud, signer: Signer, packages: Path) -> None:
    await upload(cloud, camera_package(packages, signer, "1.0.0"))
    admin = cloud.admin()
    path = f"/models/{CAMERA}/1.0.0/predict"
    bad = await send(admin, "POST", path, b"\xff\xd8\xff\xe0 this is no JPEG", "image/jpeg")
    assert bad.status == 400 and "not a decodable JPEG or PNG" in bad.body["error"]
    empty = await send(admin, "POST", path, b"", "image/png")
    assert empty.status == 400
    gif = await send(admin, "POST", path, b"GIF89a...", "image/gif")
    assert gif.status == 415 and "image/jpeg or image/png" in gif.body["error"]
    json_to_camera = await send(admin, "POST", path, b'{"rows": [[1, 2, 3, 4]]}', "application/json")
    assert json_to_camera.status == 415 and "detection model" in json_to_camera.body["error"]
    unknown = await send(admin, "POST", "/models/nobody/1.0/predict", site_jpeg(), "image/jpeg")
    assert unknown.status == 404 and "no model nobody" in unknown.body["error"]
    unknown_version = await send(admin, "POST", f"/models/{CAMERA}/4.0.0/predict", site_jpeg(), "image/jpeg")
    assert unknown_version.status == 404


async def test_risk_model_scores_rows_and_named_features(cloud: Cloud, signer: Signer, packages: Path) -> None:
    pipeline = risk_pipeline()
    assert (await upload(cloud, risk_package(packages, signer, pipeline))).status == 201
    admin = cloud.admin()
    path = f"/models/{RISK}/1.0.0/predict"
    rows = [[80.0, 2.0, 10.0, 30.0], [120.0, -1.0, None, 300.0]]  # null: a value the sensors did not give
    expected = pipeline.predict_proba(np.array(rows, dtype=np.float32))[:, 1]  # None -> NaN, imputed
    got = await send(admin, "POST", path, json.dumps({"rows": rows}).encode(), "application/json")
    assert got.status == 200, got
    assert got.body["scores"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert got.body["model"]["backend"] == "onnxruntime" and got.body["model"]["format"] == "onnx"
    assert got.body["lineage"][0]["run_id"] == "risk-run-1" and got.body["detections"] is None
    named = dict(zip(RISK_FEATURES, rows[1]))
    by_name = await send(admin, "POST", path, json.dumps({"features": named}).encode(), "application/json")
    assert by_name.body["scores"] == pytest.approx([expected[1]], abs=1e-5)
    wrong = await send(admin, "POST", path, json.dumps({"features": {"hr_mean": 1, "x": 2}}).encode(),
                       "application/json")
    assert wrong.status == 400 and "missing hr_slope, gas_max, still_s; unknown x" in wrong.body["error"]
    short = await send(admin, "POST", path, b'{"rows": [[1, 2]]}', "application/json")
    assert short.status == 400 and "row 0 has 2 values" in short.body["error"]
    both = await send(admin, "POST", path, b'{"rows": [[1, 2, 3, 4]], "features": {}}', "application/json")
    assert both.status == 400 and "either" in both.body["error"]
    image = await send(admin, "POST", path, site_jpeg(), "image/jpeg")
    assert image.status == 415 and "risk model" in image.body["error"]
    assert (await send(admin, "POST", path, b'{"rows": 5}', "application/json")).status == 422
    assert (await send(admin, "POST", path, b'{"rows": [[NaN]]}', "application/json")).status == 400


async def test_heartbeats_record_what_ran_and_the_device_models_route(cloud: Cloud, signer: Signer,
                                                                      packages: Path) -> None:
    await upload(cloud, camera_package(packages, signer, "1.0.0"), data_snapshot_id="snap-a")
    await upload(cloud, camera_package(packages, signer, "1.1.0", parent="1.0.0"))
    device = await cloud.register("gw-7")

    def models(version: str) -> dict[str, dict[str, str]]:
        return {"cam-1": {"name": CAMERA, "version": version, "sha256": "ab" * 32}}

    for ts, version in ((1000.0, "1.0.0"), (1030.0, "1.0.0"), (1060.0, "1.0.0"), (2000.0, "1.1.0"),
                        (2030.0, "1.1.0")):
        assert (await device.heartbeat(ts=ts, models=models(version))).status == 200
    with cloud.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT seq, version, from_ts FROM model_activity WHERE device_id = 'gw-7' "
                                    "ORDER BY seq").all()
    assert [tuple(r) for r in rows] == [(1, "1.0.0", 1000.0), (2, "1.1.0", 2000.0)]

    admin = cloud.admin()
    before = await admin.call("GET", "/devices/gw-7/models?at=999")
    assert before.status == 200 and before.body["models"] == []
    between = (await admin.call("GET", "/devices/gw-7/models?at=1500")).body["models"]
    assert [(m["slot"], m["version"], m["from_ts"]) for m in between] == [("cam-1", "1.0.0", 1000.0)]
    assert between[0]["lineage"][0]["data_snapshot_id"] == "snap-a"
    after = (await admin.call("GET", "/devices/gw-7/models?at=5000")).body["models"]
    assert [s["version"] for s in after[0]["lineage"]] == ["1.1.0", "1.0.0"] and after[0]["registered"]
    assert after[0]["sha256_matches"] is False  # "abab..." is no artifact of this version
    assert (await admin.call("GET", "/devices/gw-7/models?at=soon")).status == 400

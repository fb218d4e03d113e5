"""The data routes: sync history, skew, definitions, dataset search and export, through the real service."""
from __future__ import annotations

from pathlib import Path

from tests.cloud.test_service_harness import Cloud, cloud, readings_batch  # noqa: F401


async def test_history_skew_definitions_and_datasets(cloud: Cloud) -> None:
    device = await cloud.register("edge-9")
    assert (await device.batch(readings_batch("edge-9", rows=50))).status == 200
    admin = cloud.admin()
    history = (await admin.call("GET", "/devices/edge-9/sync")).body["requests"]
    assert len(history) == 1 and history[0]["rows"] == 50
    definition = (await admin.call("GET", "/definitions/jetson-gw")).body
    definition["readings"]["hr"]["v1"]["max"] = 80.0  # half of the batch's heart rates are above it now
    assert (await admin.call("PUT", "/definitions/jetson-gw", definition)).status == 200
    assert (await device.batch(readings_batch("edge-9", first_id=51, rows=50))).status == 200
    skew = (await admin.call("GET", "/devices/edge-9/skew")).body["skew"]
    assert [(s["field"], s["problem"]) for s in skew] == [("v1", "range")] and skew[0]["count"] > 0
    page = (await admin.call("GET", "/datasets/readings?device_id=edge-9&limit=60")).body
    assert len(page["rows"]) == 60 and page["next_after_id"] is not None
    assert (await admin.call("GET", "/datasets/users")).status == 422
    exported = await admin.call("POST", "/datasets/exports", {"table": "readings", "format": "csv"})
    assert exported.status == 201, exported
    assert exported.body["files"] and all((Path(exported.body["directory"]) / f).exists()
                                          for f in exported.body["files"])
    first = exported.body["files"][0]
    export_id = exported.body["id"]
    download = await admin.call("GET", f"/datasets/exports/{export_id}/file?path={first}")
    assert download.status == 200 and download.headers["Content-Disposition"].startswith("attachment")
    assert download.body == (Path(exported.body["directory"]) / first).read_text()
    for forged in (f"/datasets/exports/{export_id}/file?path=../../cloud.db",
                   f"/datasets/exports/{export_id}/file?path=nope.csv", f"/datasets/exports/..%2F..%2F/file?path={first}",
                   f"/datasets/exports/{export_id}/file?path=/etc/passwd"):
        assert (await admin.call("GET", forged)).status == 404, forged

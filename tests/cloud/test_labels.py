"""Hard-example labels through the real service (SQLite and PostgreSQL): the queue by state, the frame,
revisions with who gave them, refusals, and what fine-tuning reads back."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from cloud_sync.labels import LabelStore
from cloud_sync.service.keys import API
from tests.cloud.test_service_harness import Cloud, cloud, snapshots_batch  # noqa: F401

def box(label: str = "person", **corners: float) -> dict[str, Any]:
    return {"label": label, "x1": 0.25, "y1": 0.15, "x2": 0.5, "y2": 0.9, **corners}


async def test_the_queue_the_frame_and_revisions(cloud: Cloud) -> None:
    device = await cloud.register("edge-7")
    assert (await device.batch(snapshots_batch("edge-7", 1, 3))).status == 200
    assert (await device.batch(snapshots_batch("edge-7", 4, 1, reason="gas_high"))).status == 200  # evidence only
    admin = cloud.admin()
    page = (await admin.call("GET", "/labels/hard-examples")).body
    assert [e["stem"][-8:] for e in page["examples"]] == ["cam-gate"] * 3
    assert page["counts"] == {"unlabelled": 3, "labelled": 0, "deleted": 0}
    assert "person" in page["classes"] and page["examples"][0]["detections"][0]["score"] == 0.41
    first, second, third = (e["id"] for e in page["examples"])

    async with cloud.http.get(f"{API}/labels/hard-examples/{first}/image", headers=admin.headers) as got:
        assert got.status == 200 and got.headers["Content-Type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(await got.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (120, 160, 3)

    accepted = await admin.call("PUT", f"/labels/hard-examples/{first}/label", {"status": "accepted", "boxes": [box()]})
    assert accepted.status == 200 and accepted.body["revision"] == 1
    corrected = await admin.call("PUT", f"/labels/hard-examples/{first}/label",
                                 {"status": "corrected", "boxes": [box(), box("no_helmet", x1=0.3, x2=0.45)]})
    assert corrected.body["revision"] == 2 and corrected.body["by"].startswith("token:")  # an API token labelled it
    assert (await admin.call("PUT", f"/labels/hard-examples/{second}/label", {"status": "deleted"})).status == 200
    counts = (await admin.call("GET", "/labels/hard-examples?status=all")).body["counts"]
    assert counts == {"unlabelled": 1, "labelled": 1, "deleted": 1}
    labelled = (await admin.call("GET", "/labels/hard-examples?status=labelled")).body["examples"]
    assert [(e["id"], e["label"]["status"], len(e["label"]["boxes"])) for e in labelled] == [(first, "corrected", 2)]
    assert [e["id"] for e in (await admin.call("GET", "/labels/hard-examples")).body["examples"]] == [third]

    trained_on = list(LabelStore(cloud.engine).labelled())
    assert [(e.id, len(jpeg) > 100) for e, jpeg in trained_on] == [(first, True)]


async def test_bad_labels_are_refused_with_the_reason(cloud: Cloud) -> None:
    device = await cloud.register("edge-8")
    assert (await device.batch(snapshots_batch("edge-8", 1, 1))).status == 200
    admin = cloud.admin()
    example = (await admin.call("GET", "/labels/hard-examples")).body["examples"][0]["id"]
    path = f"/labels/hard-examples/{example}/label"
    unknown = await admin.call("PUT", path, {"status": "corrected", "boxes": [box("forklift")]})
    assert unknown.status == 422 and "forklift" in " ".join(unknown.body["details"])
    inverted = await admin.call("PUT", path, {"status": "corrected", "boxes": [box(x1=0.6, x2=0.4)]})
    assert inverted.status == 422 and "x1 < x2" in " ".join(inverted.body["details"])
    outside = await admin.call("PUT", path, {"status": "corrected", "boxes": [box(y2=1.5)]})
    assert outside.status == 422
    assert (await admin.call("PUT", "/labels/hard-examples/999999/label", {"status": "deleted"})).status == 404
    assert (await admin.call("GET", "/labels/hard-examples/nope/image")).status == 404
    viewer = cloud.browser()
    try:
        assert (await viewer.call("GET", "/labels/hard-examples")).status == 401
    finally:
        await viewer.http.close()

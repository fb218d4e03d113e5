"""The camera pipeline kind end to end: hard examples arrive as synced snapshots, people's labels go in through
the label API, a run fine-tunes the shipped detector on them, gates it, and registers the signed package as
the registry's candidate with its base as parent. SQLite only: the loop is TensorFlow-bound, and the label
store's database parts run on PostgreSQL in tests/cloud/test_labels.py."""
from __future__ import annotations

import asyncio
import importlib.util
import time

import cv2
import pytest

import cloud_sync.pipelines.camera  # noqa: F401  (registers the kind)
from cloud_sync.contract import batch
from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.records import SnapshotRecord
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.config import RegistryConfig
from cloud_sync.training import JobQueue, PipelineIn, State, embedded_worker, make_huey
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401
from tests.models.camera_finetune.frames import labelled_frames

from .test_risk_pipeline import FAST, signing_key, wait_done  # noqa: F401

FRAMES = 24


async def test_labelled_hard_examples_fine_tune_a_signed_candidate(cloud: Cloud, signing_key: bytes) -> None:
    if cloud.engine.dialect.name != "sqlite":
        pytest.skip("the camera loop is TensorFlow-bound; its database parts run on PostgreSQL in test_labels.py")
    frames = labelled_frames(FRAMES, seed=11)
    device = await cloud.register("edge-cam")
    records = [SnapshotRecord(stem=f"{1_700_000_000_000 + i}-gate", camera="gate", ts=1.7e9 + i,
                              reason="hard_example", detections=[], model=None,
                              jpeg=cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
               for i, (rgb, _, _) in enumerate(frames)]
    ids = list(range(1, FRAMES + 1))
    columns = {name: [getattr(r, name) for r in records] for name in SnapshotRecord.model_fields}
    assert (await device.batch(batch.encode("edge-cam", [Chunk("snapshots", 1, FRAMES, ids, columns)],
                                            time.time()))).status == 200
    admin = cloud.admin()
    examples = (await admin.call("GET", "/labels/hard-examples?limit=100")).body["examples"]
    assert len(examples) == FRAMES
    for example, (_, corners, labels) in zip(examples, frames):
        boxes = [{"label": label, "x1": float(c[0]), "y1": float(c[1]), "x2": float(c[2]), "y2": float(c[3])}
                 for c, label in zip(corners, labels)]
        assert (await admin.call("PUT", f"/labels/hard-examples/{example['id']}/label",
                                 {"status": "corrected", "boxes": boxes})).status == 200

    data_dir = cloud.data_dir
    queue = JobQueue(make_huey(None, data_dir), cloud.engine, data_dir, FAST)
    try:
        queue.pipelines.put("camera", PipelineIn.model_validate({"kind": "camera", "options": {
            "epochs": 1, "min_frames": 20, "rendered_images": 16, "compiled": False}}))
        with embedded_worker(queue, workers=1):
            job = await wait_done(queue, (await asyncio.to_thread(queue.submit, "camera")).id)
        assert job.state is State.DONE, (job.error, [line.line for line in queue.jobs.logs(job.id)][-5:])
        assert job.metrics["frames"] == FRAMES and job.metrics["gate"]["passed"]
        built = job.metrics["build"]  # for the registered Jetson (sm87, TensorRT 8.6), plus the Pi the gate measures
        assert set(built["built"]) == {"model.onnx", "model_fp32.tflite", "model_int8.tflite"} and not built["refused"]
        assert built["built"]["model.onnx"]["target"] == "jetson-orin"
        if importlib.util.find_spec("tensorrt") is None:  # no builder here: the Jetson builds its engine and caches it
            assert built["device_builds"] == ["jetson-orin"] and "tensorrt is not installed" in built["notes"][0]
        config = RegistryConfig.from_env(data_dir)
        candidate = ModelRegistry(cloud.engine, config.store_dir).alias("siteguard-ppe-detector", "candidate")
        assert candidate.parent_version == "1.0.0" and candidate.run_id == f"job-{job.id}"
        assert candidate.data_snapshot_id == job.data_snapshot_id and job.data_snapshot_id.startswith("labels-")
    finally:
        queue.close()

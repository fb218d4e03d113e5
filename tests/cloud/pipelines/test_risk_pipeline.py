"""The risk pipeline kind end to end on the real parts: a generated site's history arrives through the real
ingest (signed batches, a heartbeat with the roster), a label-count trigger starts a run on the job engine,
it preprocesses, trains, evaluates and packages, and the signed model becomes the registry's candidate with
its metrics; promoted to champion, a drill trained on shuffled labels is stopped by the gate with the reason
recorded; skew beyond the pipeline's threshold stops a run at data validation."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import update

import cloud_sync.pipelines.risk  # noqa: F401  (registers the kind)
from cloud_sync.db.schema import DATA_TABLES
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.config import RegistryConfig
from cloud_sync.training import JobQueue, JobSettings, PipelineIn, State, embedded_worker, make_huey
from models.package import load_package
from models.risk.features import FEATURES
from models.risk.synthetic import generate_site
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401

from .site_upload import upload

FAST = JobSettings(lease_s=20.0, renew_s=2.0, tick_s=1, retry_delay_s=0.2, retry_max_delay_s=1.0,
                   write_every_s=0.2, poll_s=0.2)
OPTIONS = {"algorithms": ["logistic_regression", "random_forest"], "profiles": ["x86", "pi5"], "folds": 3,
           "gate_min_segment": 15}
WAIT_S = 240.0


@pytest.fixture
def signing_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    """The cloud's signing key, as a deployment gives it (the environment), never from the repository."""
    key = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    monkeypatch.setenv("SITEGUARD_SIGNING_KEY", key.hex())
    yield key


async def wait_done(queue: JobQueue, job_id: int) -> object:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while loop.time() < deadline:
        job = await asyncio.to_thread(queue.jobs.get, job_id)
        if job.finished:
            return job
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {WAIT_S} s: {await asyncio.to_thread(queue.jobs.get, job_id)}")


async def test_verdicts_train_a_gated_signed_candidate_and_a_worse_drill_is_stopped(
        cloud: Cloud, signing_key: bytes) -> None:
    data_dir = cloud.data_dir  # packages land in the service's model store
    site = generate_site("site-a", seed=3, workers=10, hours=8.0)
    await upload(cloud, site)
    labelled = len({v["alarm_id"] for v in site.verdicts})
    queue = JobQueue(make_huey(None, data_dir), cloud.engine, data_dir, FAST)
    try:
        queue.pipelines.put("risk", PipelineIn.model_validate({
            "kind": "risk", "options": OPTIONS, "triggers": [{"type": "labels", "min_new": labelled}, {"type": "manual"}]}))
        fired = await asyncio.to_thread(queue.check_triggers)  # before a worker's own periodic check can
        with embedded_worker(queue, workers=1):
            assert [j.trigger for j in fired] == ["labels"] and str(len(site.verdicts)) in fired[0].reason
            job = await wait_done(queue, fired[0].id)
            assert job.state is State.DONE, (job.error, [line.line for line in queue.jobs.logs(job.id)][-5:])
            assert job.result["alias"] == "candidate" and job.data_snapshot_id.startswith("snap-")
            metrics = job.metrics
            assert set(metrics["candidates"]) == {"logistic_regression", "random_forest"}
            assert metrics["gate"]["passed"] and metrics["recommendation"]["pi5"]["why"]
            assert all(r["passed"] for r in metrics["compat"].values()), metrics["compat"]

            config = RegistryConfig.from_env(data_dir)
            registry = ModelRegistry(cloud.engine, config.store_dir)
            candidate = registry.alias("risk", "candidate")
            assert candidate.version == job.result["version"] and candidate.run_id == f"job-{job.id}"
            assert candidate.data_snapshot_id == job.data_snapshot_id
            package = load_package(registry.package_dir(candidate), trusted_keys=config.trusted_keys)
            assert {a.format for a in package.manifest.artifacts} == {"onnx", "tflite"}
            built = metrics["build"]  # per profile: ONNX for x86, TFLite fp32 and int8 for pi5, each checked
            assert {"risk.onnx", "risk.tflite"} <= set(built["built"]) == set(package.manifest.checks)
            assert set(built["built"]) | set(built["refused"]) == {"risk.onnx", "risk.tflite", "risk_int8.tflite"}
            assert all(r["reason"].startswith(path) for path, r in built["refused"].items()), built["refused"]
            assert all(c.recall >= c.reference_recall - c.margin for c in package.manifest.checks.values())
            assert list(package.manifest.features) == list(FEATURES) and "average_precision" in candidate.metrics

            # the candidate becomes champion; a drill trained on shuffled labels must not replace it
            registry.set_alias("risk", "champion", candidate.version, by="tests")
            drill = dict(OPTIONS, drill_shuffle_labels=True)
            queue.pipelines.put("risk", PipelineIn.model_validate({"kind": "risk", "options": drill}))
            worse = await wait_done(queue, queue.submit("risk").id)
            assert worse.state is State.FAILED and worse.attempt == 1
            assert worse.error.startswith("evaluating: gate: "), worse.error
            assert "average precision" in worse.error or "recall" in worse.error
            assert registry.alias("risk", "candidate").version == candidate.version  # nothing new registered
            assert [v.version for v in registry.versions("risk")] == [candidate.version]

            # skew beyond the threshold stops the run before any training
            strict = dict(OPTIONS, max_skew_fraction=0.0)
            queue.pipelines.put("risk", PipelineIn.model_validate({"kind": "risk", "options": strict}))
            with cloud.engine.begin() as conn:
                conn.execute(update(DATA_TABLES["alarms"]).where(DATA_TABLES["alarms"].c.id <= 3)
                             .values(flags={"value": "range"}))
            skewed = await wait_done(queue, queue.submit("risk").id)
            assert skewed.state is State.FAILED and skewed.error.startswith("preprocessing: data validation: alarms: 3 of")
    finally:
        queue.close()

"""The snapshots lane: frames saved by the vision SnapshotWriter reach the cloud at night, JPEG and all."""
from __future__ import annotations

import multiprocessing as mp
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.store import Store
from edge_runtime.vision.detections import Detection, FrameDetections
from edge_runtime.vision.frame_buffer import FrameRing
from edge_runtime.vision.snapshots import SnapshotStore, SnapshotWriter
from tests.store.conftest import gas

from .cloud_double import CloudDouble
from .conftest import agent_spec, committed_marks, running, sync_settings, until


def _frame(frame_id: int, score: float) -> FrameDetections:
    detection = Detection("person", score, (10, 10, 40, 90), site_xy=(1.0, 2.0), zones=("yard",))
    return FrameDetections("cam1", frame_id, 1_700_000_000.0 + frame_id, 64, 48, [detection], "siteguard-camera",
                           "1.2.0", "a" * 64, "onnxruntime", 4.0, 9.0)


def save_snapshots(store: Store, folder: Path, count: int) -> list[Path]:
    """Hard examples written by the real SnapshotWriter, which records each one through the Store."""
    ring = FrameRing.create(64 * 48 * 3, ctx=mp.get_context("spawn"))
    writer = SnapshotWriter(SnapshotStore(folder, 10**7), lambda cam, fid: ring.find(fid), bands={"cam1": (0.3, 0.5)},
                            interval_s=0.0, on_saved=store.record_snapshot)
    writer.start()
    try:
        for fid in range(1, count + 1):
            ring.write(np.random.default_rng(fid).integers(0, 255, (48, 64, 3), np.uint8), ts=float(fid),
                       frame_id=fid)
            writer.hard_examples(_frame(fid, 0.4))
            time.sleep(0.05)  # one at a time: the ring holds only the newest frames
    finally:
        writer.stop()
        ring.unlink()
    assert store.flush()
    return sorted(folder.glob("*.jpg"))


def utc_today(hour: int) -> float:
    now = datetime.now(timezone.utc)
    return now.replace(hour=hour, minute=0, second=0, microsecond=0).timestamp()


async def test_snapshots_wait_for_their_window_and_a_deleted_file_is_skipped(
    store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path, tmp_path: Path
) -> None:
    files = save_snapshots(store, tmp_path / "snapshots", 3)
    assert len(files) == 3 and len(store._read("SELECT id FROM snapshots")) == 3
    files[0].unlink()  # what the snapshot folder's own budget does to the oldest
    store.record_observation(gas(ts=1_000.0))
    assert store.flush()
    offset = [utc_today(12) - time.time()]  # noon: outside the default window 22:00-06:00
    clock = lambda: time.time() + offset[0]  # noqa: E731
    cloud.clock = clock  # the signatures' timestamps are checked against the same time
    spec = agent_spec(store, sync_settings(cloud.url, credential_file), db_path)
    async with running(spec, clock=clock) as agent:
        await until(lambda: cloud.rows["readings"], what="the bulk lane")
        await until(lambda: agent.state().lanes["snapshots"].rows == 3, what="the snapshots backlog counted")
        assert not cloud.rows["snapshots"] and agent.state().lanes["snapshots"].bytes > 2 * files[1].stat().st_size
        offset[0] = utc_today(23) - time.time()  # night
        await until(lambda: len(cloud.rows["snapshots"]) == 2, what="the snapshots sent")
        await until(lambda: agent.state().snapshots_missing == 1, what="the missing file counted")
    assert store.flush() and committed_marks(db_path)["snapshots"] == 3  # the range covers the missing one
    by_stem = {r["stem"]: r for r in cloud.rows["snapshots"].values()}
    for path in files[1:]:
        record = by_stem[path.stem]
        assert record["jpeg"] == path.read_bytes()
        assert record["camera"] == "cam1" and record["reason"] == "hard_example"
        assert record["detections"][0]["score"] == 0.4 and record["model"]["sha256"] == "a" * 64

"""Snapshots: alarm frames and hard examples, JSON sidecars, the disk budget and the rate limit."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.vision.detections import Detection, FrameDetections
from edge_runtime.vision.frame_buffer import FrameRing
from edge_runtime.vision.snapshots import SnapshotStore, SnapshotWriter


def _frame(frame_id: int, *scores: float, ts: float = 1_700_000_000.0) -> FrameDetections:
    dets = [Detection("person", s, (10, 10, 40, 90), site_xy=(1.0, 2.0), zones=("yard",)) for s in scores]
    return FrameDetections("cam1", frame_id, ts + frame_id, 64, 48, dets, "siteguard-camera", "1.2.0", "a" * 64,
                           "onnxruntime", 4.0, 9.0)


def test_budget_is_never_exceeded_and_the_oldest_go_first(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, budget_bytes=3000)
    for i in range(10):
        assert store.save(f"{i:013d}-cam1-{i}-x", b"j" * 700, {"i": i}) is not None
        on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
        assert on_disk <= 3000 and on_disk == store.total
    kept = sorted(p.name for p in tmp_path.glob("*.jpg"))
    assert kept == [f"{i:013d}-cam1-{i}-x.jpg" for i in (6, 7, 8, 9)]  # 4 x 708 bytes fit
    assert store.save("big", b"j" * 4000, {}) is None and store.too_big == 1
    # a restart finds what is there and keeps to the budget from then on
    again = SnapshotStore(tmp_path, budget_bytes=1600)
    assert again.total <= 1600 and max(p.name for p in tmp_path.glob("*.jpg")).startswith(f"{9:013d}")


def test_writer_saves_the_frame_and_its_sidecar_rate_limited(tmp_path: Path) -> None:
    ring = FrameRing.create(64 * 48 * 3, ctx=mp.get_context("spawn"))
    now = [100.0]
    writer = SnapshotWriter(
        SnapshotStore(tmp_path, 10**7), lambda cam, fid: ring.find(fid) if cam == "cam1" else None,
        bands={"cam1": (0.35, 0.5)}, interval_s=5.0, clock=lambda: now[0],
    )
    writer.start()
    try:
        for fid in (1, 2):
            ring.write(np.full((48, 64, 3), 50 * fid, np.uint8), ts=float(fid), frame_id=fid)
        writer.hard_examples(_frame(1, 0.9))  # confident: not a hard example
        writer.hard_examples(_frame(1, 0.42, 0.9))
        writer.hard_examples(_frame(2, 0.4))  # within the rate limit: skipped
        writer.alarm(_frame(2, 0.9), AlarmKind.CAMERA_INTRUDER)  # another reason: its own limit
        now[0] += 6
        writer.hard_examples(_frame(99, 0.4))  # no longer in shared memory: missed, not invented
    finally:
        writer.stop()
        ring.unlink()
    sidecars = sorted(tmp_path.glob("*.json"))
    assert [p.stem.split("-", 1)[1] for p in sidecars] == ["cam1-1-hard_example", "cam1-2-camera_intruder"]
    meta = json.loads(sidecars[0].read_text())
    assert meta["camera"] == "cam1" and meta["frame_id"] == 1 and meta["reason"] == "hard_example"
    assert meta["model"] == {"name": "siteguard-camera", "version": "1.2.0", "sha256": "a" * 64, "backend": "onnxruntime"}
    assert meta["detections"][0]["score"] == 0.42 and meta["detections"][0]["zones"] == ["yard"]
    assert (tmp_path / f"{sidecars[0].stem}.jpg").stat().st_size > 0
    assert writer.rate_limited == 1 and writer.missed == 1 and writer.written == 2


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    writer = SnapshotWriter(SnapshotStore(tmp_path, 10**6), lambda cam, fid: None, bands={"cam1": (0.0, 1.0)},
                            interval_s=0.0, queue_size=2)
    t0 = time.perf_counter()
    for i in range(10):  # the writer thread is not running: the queue fills
        writer.hard_examples(_frame(i, 0.5))
    assert time.perf_counter() - t0 < 0.1 and writer.dropped == 8

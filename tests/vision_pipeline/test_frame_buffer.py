"""Frames in shared memory: newest frame wins, stale frames are dropped and counted, across processes."""
from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pytest

from edge_runtime.vision.frame_buffer import FrameRing

CTX = mp.get_context("spawn")


def _frame(value: int, shape: tuple[int, ...] = (48, 64, 3)) -> np.ndarray:
    return np.full(shape, value % 256, np.uint8)


@pytest.fixture
def ring():
    r = FrameRing.create(48 * 64 * 3, slots=3, ctx=CTX)
    yield r
    r.unlink()


def test_reader_behind_gets_the_newest_and_counts_the_stale(ring: FrameRing) -> None:
    reader = ring.reader()
    assert reader.latest() is None
    ring.write(_frame(1), ts=1.0)
    first = reader.latest()
    assert first is not None and first.frame_id == 1 and first.image[0, 0, 0] == 1
    for v in range(2, 8):  # the reader falls 6 frames behind
        ring.write(_frame(v), ts=float(v))
    frame = reader.latest()
    assert frame is not None and frame.frame_id == 7 and int(frame.image.mean()) == 7 and frame.ts == 7.0
    assert reader.dropped == 5  # frames 2..6 were never seen
    assert reader.latest() is None  # nothing newer: no repeat of an old frame


def test_shapes_and_grayscale_round_trip(ring: FrameRing) -> None:
    gray = np.arange(32 * 40, dtype=np.uint8).reshape(32, 40)
    ring.write(gray, ts=2.0, frame_id=42)
    frame = ring.reader().latest()
    assert frame is not None and frame.frame_id == 42 and np.array_equal(frame.image, gray)
    assert ring.find(42) is not None and ring.find(41) is None


def test_writer_never_waits_for_a_slow_reader(ring: FrameRing) -> None:
    """A reader holding a slot (mid-copy) costs the writer nothing: it takes another slot."""
    ring.write(_frame(1), ts=1.0)
    held = 0  # the newest slot, as a reader in the middle of copying it would hold it
    assert ring._locks[held].acquire(False)
    try:
        t0 = time.perf_counter()
        for v in range(2, 12):
            assert ring.write(_frame(v), ts=float(v)) is not None
        assert time.perf_counter() - t0 < 0.5
    finally:
        ring._locks[held].release()
    frame = ring.reader().latest()
    assert frame is not None and frame.frame_id == 11


def test_too_large_a_frame_is_refused(ring: FrameRing) -> None:
    with pytest.raises(ValueError, match="capacity"):
        ring.write(np.zeros((100, 100, 3), np.uint8), ts=0.0)


def _produce(ring: FrameRing, count: int, period_s: float, started) -> None:
    started.set()
    for i in range(1, count + 1):
        ring.write(_frame(i), ts=time.time())
        time.sleep(period_s)
    ring.close()


def test_across_processes_newest_wins_and_stale_frames_are_counted(ring: FrameRing) -> None:
    """A fast writer in another process, a slow reader here: every frame read is whole and
    newer than the last, and frames read + dropped account for everything written."""
    started = CTX.Event()
    writer = CTX.Process(target=_produce, args=(ring, 200, 0.002, started))
    writer.start()
    try:
        assert started.wait(20)
        reader = ring.reader()
        seen: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not seen or seen[-1] < 200):
            frame = reader.latest()
            if frame is not None:
                assert len(np.unique(frame.image)) == 1, "a torn frame"
                assert int(frame.image[0, 0, 0]) == frame.frame_id % 256
                seen.append(frame.frame_id)
            time.sleep(0.01)  # five times slower than the writer
    finally:
        writer.join(10)
    assert seen and seen[-1] == 200
    assert seen == sorted(set(seen)), "frames only move forward"
    assert reader.dropped > 0 and reader.dropped + len(seen) == 200 - seen[0] + 1

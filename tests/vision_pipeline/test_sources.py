"""Capture: files, folders, reconnect when a missing source appears, end of a recording, the offline signal."""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.config.cameras import CameraConfig
from edge_runtime.vision.frame_buffer import FrameRing
from edge_runtime.vision.sources import (
    Capture,
    LinkWatch,
    SourceError,
    fit_within,
    open_source,
)
from firmware_bridge.backoff import Backoff

W, H = 160, 120


def _image(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    cv2.putText(img, str(i), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return img


def write_video(path: Path, frames: int, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    for i in range(frames):
        writer.write(_image(i))
    writer.release()
    return path


@pytest.fixture
def ring() -> Iterator[FrameRing]:
    r = FrameRing.create(W * H * 3, ctx=mp.get_context("spawn"))
    yield r
    r.unlink()


class Running:
    """A capture thread with a fast backoff, and its link watch."""

    def __init__(self, camera: CameraConfig, ring: FrameRing) -> None:
        self.capture = Capture(camera, ring, backoff=Backoff(initial=0.05, maximum=0.1, jitter=0))
        self.link = LinkWatch(camera.id, camera.offline_after_s, time.monotonic())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.capture.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def status(self):
        return self.link.check(self.capture.last_frame_mono, self.capture.last_error, time.monotonic(), time.time())

    def wait(self, predicate, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _camera(source: Path | str, **kw: object) -> CameraConfig:
    return CameraConfig(id="cam", source=str(source), offline_after_s=0.3, **kw)


def test_missing_folder_is_offline_then_reconnects_when_it_appears(tmp_path: Path, ring: FrameRing) -> None:
    folder = tmp_path / "uploads"
    run = Running(_camera(folder, fps=50), ring)
    try:
        statuses = []
        run.wait(lambda: (s := run.status()) is not None and statuses.append(s) is None)
        assert statuses[0].online is False and "no such file or folder" in statuses[0].reason
        assert run.capture.reconnects >= 2  # retried with backoff
        folder.mkdir()
        for i in range(3):
            cv2.imwrite(str(folder / f"{i:04d}.png"), _image(i))
        run.wait(lambda: ring.written == 3)
        status = run.status()
        assert status is not None and status.online
        # a drop-box folder: a later upload is taken when it appears
        cv2.imwrite(str(folder / "0003.png"), _image(3))
        run.wait(lambda: ring.written == 4)
    finally:
        run.close()


def test_missing_video_file_appears_and_loops(tmp_path: Path, ring: FrameRing) -> None:
    video = tmp_path / "cam.avi"
    run = Running(_camera(video, loop=True, realtime=False), ring)
    reader = ring.reader()
    try:
        time.sleep(0.2)
        assert ring.written == 0 and run.capture.last_error
        write_video(tmp_path / "tmp.avi", 5).rename(video)
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 12 and time.monotonic() < deadline:  # more than the file holds: it loops
            frame = reader.latest()
            if frame is not None:
                got.append(frame)
            time.sleep(0.005)
        assert len(got) >= 12
    finally:
        run.close()


def test_lockstep_reads_one_frame_ahead_of_the_consumer(tmp_path: Path, ring: FrameRing) -> None:
    demand = threading.Event()
    demand.set()
    capture = Capture(_camera(write_video(tmp_path / "v.avi", 10), realtime=False), ring, demand=demand)
    stop = threading.Event()
    thread = threading.Thread(target=capture.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        assert ring.written == 1  # waits for the consumer
        reader = ring.reader()
        ids = []
        for _ in range(9):
            deadline = time.monotonic() + 2
            while (frame := reader.latest()) is None:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            ids.append(frame.frame_id)
            demand.set()
        assert ids == list(range(1, 10)) and reader.dropped == 0  # nothing decoded only to be dropped
    finally:
        stop.set()
        demand.set()
        thread.join(5)


def test_recording_without_loop_ends_and_goes_offline(tmp_path: Path, ring: FrameRing) -> None:
    run = Running(_camera(write_video(tmp_path / "short.avi", 4, fps=40)), ring)
    try:
        run.wait(lambda: run.capture.ended)
        assert ring.written == 4 and run.capture.last_error == "end of the recording"
        first = run.status()
        assert first is not None and first.online
        run.wait(lambda: (s := run.status()) is not None and not s.online, timeout=3)
    finally:
        run.close()


def test_unreachable_stream_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        open_source(_camera("rtsp://127.0.0.1:9/none"))


def test_large_frames_are_scaled_down_to_the_slot() -> None:
    assert fit_within(np.zeros((1080, 1920, 3), np.uint8), 1280, 720).shape == (720, 1280, 3)
    small = np.zeros((100, 100, 3), np.uint8)
    assert fit_within(small, 1280, 720) is small

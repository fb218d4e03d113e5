"""Snapshots: the frames that raised a camera alarm, and hard examples for the cloud training loop.

A hard example is a frame with a detection whose score falls in the camera's
``hard_example_band``: the model was unsure, so a person should label it.
Each snapshot is a JPEG of the frame as the model saw it (unannotated, so it
can be labelled) and a JSON sidecar with the camera, time, detections and the
model lineage that made them.

The event loop only decides and enqueues (a score check and a rate limit per
camera and reason); a writer thread copies the frame out of shared memory,
encodes and writes it. The folder never holds more than its byte budget:
the oldest snapshots go first, and one larger than the whole budget is not
written. A full queue drops the request (counted): snapshots are evidence,
never a reason to slow the alarm path. Each snapshot saved is handed to a
:class:`SnapshotSink` (the Store's ``record_snapshot``: a row in the
``snapshots`` table the sync agent uploads with its JPEG).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import cv2

from edge_runtime.alarms.model import AlarmKind

from .detections import FrameDetections
from .frame_buffer import Frame

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
HARD_EXAMPLE = "hard_example"


class SnapshotSink(Protocol):
    """Told of every snapshot saved: ``size`` bytes of JPEG at ``path``, with what the model saw."""

    def __call__(self, *, stem: str, camera: str, ts: float, reason: str, path: Path, size: int,
                 detections: list[dict[str, Any]], model: dict[str, Any] | None) -> None: ...


class SnapshotStore:
    """JPEG + JSON pairs in one folder within ``budget_bytes``, oldest first out."""

    def __init__(self, folder: Path, budget_bytes: int) -> None:
        self.folder = Path(folder)
        self.budget = budget_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self._entries: deque[tuple[str, int]] = deque()  # (stem, bytes of both files), oldest first
        self.total = 0
        self.evicted = 0
        self.too_big = 0
        sizes: dict[str, int] = {}
        for entry in os.scandir(self.folder):
            stem, suffix = os.path.splitext(entry.name)
            if suffix in (".jpg", ".json") and entry.is_file():
                sizes[stem] = sizes.get(stem, 0) + entry.stat().st_size
        for stem in sorted(sizes):  # stems start with the capture time in ms: name order is age
            self._entries.append((stem, sizes[stem]))
            self.total += sizes[stem]
        self._evict(0)

    def save(self, stem: str, jpeg: bytes, sidecar: dict[str, object]) -> Path | None:
        """Write ``stem.jpg`` and ``stem.json``, evicting the oldest first; None when over budget alone."""
        meta = json.dumps(sidecar, separators=(",", ":")).encode()
        size = len(jpeg) + len(meta)
        if size > self.budget:
            self.too_big += 1
            return None
        self._evict(size)
        image = self.folder / f"{stem}.jpg"
        for path, data in ((image, jpeg), (self.folder / f"{stem}.json", meta)):
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # a reader never sees half a file
        self._entries.append((stem, size))
        self.total += size
        return image

    def _evict(self, incoming: int) -> None:
        while self._entries and self.total + incoming > self.budget:
            stem, size = self._entries.popleft()
            for suffix in (".jpg", ".json"):
                (self.folder / f"{stem}{suffix}").unlink(missing_ok=True)
            self.total -= size
            self.evicted += 1


class SnapshotWriter:
    """Decides on the loop, writes on its own thread (see the module docstring).

    ``frames(camera, frame_id)`` returns that processed frame from shared
    memory, or None once it has been overwritten (counted as ``missed``).
    """

    def __init__(
        self,
        store: SnapshotStore,
        frames: Callable[[str, int], Frame | None],
        *,
        bands: dict[str, tuple[float, float]],
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = 8,
        on_saved: SnapshotSink | None = None,
    ) -> None:
        self.store = store
        self._on_saved = on_saved
        self._frames = frames
        self._bands = bands
        self._interval = interval_s
        self._clock = clock
        self._queue: queue.Queue[tuple[FrameDetections, str] | None] = queue.Queue(queue_size)
        self._last: dict[tuple[str, str], float] = {}
        self._thread: threading.Thread | None = None
        self.written = self.dropped = self.rate_limited = self.missed = 0

    def hard_examples(self, frame: FrameDetections) -> None:
        """Snapshot the frame if a detection's score is in its camera's hard-example band."""
        low, high = self._bands.get(frame.camera, (1.0, 1.0))
        if any(low <= d.score < high for d in frame.detections):
            self._request(frame, HARD_EXAMPLE)

    def alarm(self, frame: FrameDetections, kind: AlarmKind) -> None:
        """Snapshot the frame that raised a camera alarm."""
        self._request(frame, kind.value)

    def _request(self, frame: FrameDetections, reason: str) -> None:
        key, now = (frame.camera, reason), self._clock()
        if now - self._last.get(key, -1e18) < self._interval:
            self.rate_limited += 1
            return
        try:
            self._queue.put_nowait((frame, reason))
        except queue.Full:
            self.dropped += 1
            return
        self._last[key] = now

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._write(*item)
            except Exception:  # a full disk or a bad frame must not end snapshotting
                log.exception("snapshot failed")

    def _write(self, frame: FrameDetections, reason: str) -> None:
        image = self._frames(frame.camera, frame.frame_id)
        if image is None:
            self.missed += 1
            return
        ok, jpeg = cv2.imencode(".jpg", image.image, (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY))
        if not ok:
            raise ValueError("JPEG encoding failed")
        detections = [asdict(d) for d in frame.detections]
        model: dict[str, Any] = {"name": frame.model, "version": frame.model_version, "sha256": frame.model_sha256,
                                 "backend": frame.backend}
        sidecar = {
            "camera": frame.camera, "frame_id": frame.frame_id, "ts": frame.ts, "reason": reason,
            "width": frame.width, "height": frame.height, "detections": detections, "model": model,
        }
        stem = f"{int(frame.ts * 1000):013d}-{frame.camera}-{frame.frame_id}-{reason}"
        data = jpeg.tobytes()
        path = self.store.save(stem, data, sidecar)
        if path is None:
            return
        self.written += 1
        if self._on_saved is not None:
            self._on_saved(stem=stem, camera=frame.camera, ts=frame.ts, reason=reason, path=path, size=len(data),
                           detections=detections, model=model)

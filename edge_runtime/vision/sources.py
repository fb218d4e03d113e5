"""Camera capture: every kind of source through OpenCV, reconnects, pacing, and the offline signal.

Source kinds (``CameraConfig.source``): a video file, a folder of images (name
order), an ``rtsp://`` or ``http(s)://`` stream, ``/dev/videoN`` or an integer
V4L2 index. A file or folder that does not exist yet is retried like a
stream that is down, so a camera can be configured before its recording or
upload folder appears. Reconnects follow the shared
:class:`firmware_bridge.backoff.Backoff` (reset only after a frame arrived).

Pacing: live sources deliver at their own rate. Files and folders play at
their own frame rate when ``realtime`` (a demo video behaves like a camera);
otherwise they are read one frame ahead of the consumer (``demand``), so a
benchmark measures inference, not the decoding of frames that would be dropped.

The capture thread only writes the newest frame into the camera's
:class:`~edge_runtime.vision.frame_buffer.FrameRing`; :class:`LinkWatch` turns
"no frame for ``offline_after_s``" into the camera-offline signal.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge_runtime.config.cameras import CameraConfig
from firmware_bridge.backoff import Backoff

from .detections import CameraStatus
from .frame_buffer import FrameRing

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
STREAM_TIMEOUT_MS = 5000  # FFmpeg open/read timeout for network streams (its default is ~30 s)
FALLBACK_FPS = 10.0  # a file that does not say its rate
FOLDER_POLL_S = 0.2  # how often a non-looping folder is looked at for new images


class SourceError(OSError):
    """The source cannot be opened or stopped delivering; the capture reconnects."""


class EndOfStream(Exception):
    """A file or folder without ``loop`` has been played to its end."""


class FrameSource(Protocol):
    """One opened source. ``read`` returns a frame, or None when nothing new is there yet."""

    fps: float | None  # native rate of a file or folder; None for live sources

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class VideoSource:
    """cv2.VideoCapture on a file, stream or device; a file may start again at its end."""

    def __init__(self, target: int | str, api: int, *, is_file: bool, loop: bool, params: tuple[int, ...] = ()) -> None:
        self._cap = cv2.VideoCapture(target, api, list(params))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open {target!r}")
        self._target = target
        self._is_file = is_file
        self._loop = loop
        rate = self._cap.get(cv2.CAP_PROP_FPS) if is_file else 0.0
        self.fps: float | None = (rate if 0 < rate < 1000 else FALLBACK_FPS) if is_file else None

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if ok:
            return frame
        if not self._is_file:
            raise SourceError(f"{self._target!r} stopped delivering frames")
        if not self._loop:
            raise EndOfStream(str(self._target))
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, frame = self._cap.read()
        if not ok:
            raise SourceError(f"{self._target!r} cannot be read from its start again")
        return frame

    def close(self) -> None:
        self._cap.release()


class FolderSource:
    """Images in name order. With ``loop`` they repeat; without, the folder is a drop box
    (cameras that upload JPEGs): later images are taken as they appear."""

    def __init__(self, folder: Path, *, fps: float, loop: bool) -> None:
        self._folder = folder
        self._loop = loop
        self.fps: float | None = fps
        self._last: str | None = None
        self._pending: list[str] = []

    def read(self) -> np.ndarray | None:
        if not self._pending:
            self._pending = self._listing(after=self._last)
            if not self._pending and self._loop and self._last is not None:
                self._pending = self._listing(after=None)
            if not self._pending:
                if self._loop:
                    raise SourceError(f"{self._folder} holds no images")
                return None
        name = self._pending.pop(0)
        self._last = name
        image = cv2.imread(str(self._folder / name), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("unreadable image skipped", extra={"file": str(self._folder / name)})
        return image

    def _listing(self, after: str | None) -> list[str]:
        try:
            names = sorted(e.name for e in os.scandir(self._folder) if e.name.lower().endswith(IMAGE_SUFFIXES))
        except OSError as exc:
            raise SourceError(f"cannot list {self._folder}: {exc.strerror or exc}") from None
        return [n for n in names if after is None or n > after]

    def close(self) -> None:
        self._pending.clear()


def open_source(camera: CameraConfig) -> FrameSource:
    """Open ``camera.source`` by its kind; raises :class:`SourceError` when it is not there (yet)."""
    source = camera.source
    if isinstance(source, int) or source.startswith("/dev/video"):
        return VideoSource(source, cv2.CAP_V4L2, is_file=False, loop=False)
    if source.split("://", 1)[0].lower() in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp"):
        timeouts = (cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS)
        return VideoSource(source, cv2.CAP_FFMPEG, is_file=False, loop=False, params=timeouts)
    path = Path(source)
    if path.is_dir():
        return FolderSource(path, fps=camera.fps, loop=camera.loop)
    if not path.is_file():
        raise SourceError(f"{source}: no such file or folder (yet)")
    return VideoSource(str(path), cv2.CAP_FFMPEG, is_file=True, loop=camera.loop)


def fit_within(image: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Scale a frame down (never up) to fit the slot size, keeping its aspect ratio."""
    h, w = image.shape[:2]
    scale = min(max_width / w, max_height / h)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)


class Capture:
    """The capture thread's body: open, read, pace, write the newest frame; reconnect on failure.

    ``demand`` (non-realtime files and folders only) is set by the consumer
    each time it took a frame. ``on_frame`` is called after each frame is
    written (the worker wakes its inference loop with it).
    """

    def __init__(
        self,
        camera: CameraConfig,
        ring: FrameRing,
        *,
        on_frame: Callable[[], None] = lambda: None,
        demand: threading.Event | None = None,
        opener: Callable[[CameraConfig], FrameSource] = open_source,
        backoff: Backoff | None = None,
    ) -> None:
        self._camera = camera
        self._ring = ring
        self._on_frame = on_frame
        self._demand = demand
        self._open = opener
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self.frames = 0
        self.reconnects = 0
        self.last_error = ""
        self.last_frame_mono: float | None = None
        self.ended = False

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: (re)open the source and pump frames; never raises."""
        while not stop.is_set():
            try:
                source = self._open(self._camera)
            except SourceError as exc:
                self._failed(str(exc), stop)
                continue
            except Exception as exc:  # a codec or driver bug must not end the camera
                self._failed(f"opening failed: {exc!r}", stop)
                continue
            try:
                self._pump(source, stop)
            except EndOfStream:
                self.ended = True
                self.last_error = "end of the recording"
                log.warning("camera source ended", extra={"camera": self._camera.id})
                return
            except SourceError as exc:
                self._failed(str(exc), stop)
            except Exception as exc:
                self._failed(f"reading failed: {exc!r}", stop)
            finally:
                source.close()

    def _pump(self, source: FrameSource, stop: threading.Event) -> None:
        cam = self._camera
        paced = source.fps if source.fps and cam.realtime else None
        lockstep = self._demand if source.fps and not cam.realtime else None
        start, index = time.monotonic(), 0
        while not stop.is_set():
            if lockstep is not None:
                while not lockstep.wait(0.2):
                    if stop.is_set():
                        return
                lockstep.clear()
            image = source.read()
            if image is None:  # a drop-box folder with nothing new
                stop.wait(FOLDER_POLL_S)
                continue
            if paced is not None:
                stop.wait(max(0.0, start + index / paced - time.monotonic()))
                index += 1
            self._ring.write(fit_within(image, cam.max_width, cam.max_height), time.time())
            self.frames += 1
            self.last_frame_mono = time.monotonic()
            self.last_error = ""
            self._backoff.reset()  # a frame is the proof of success
            self._on_frame()

    def _failed(self, error: str, stop: threading.Event) -> None:
        if error != self.last_error:
            log.warning("camera source failed; reconnecting", extra={"camera": self._camera.id, "error": error})
        self.last_error = error
        self.reconnects += 1
        stop.wait(self._backoff.next_delay())


class LinkWatch:
    """Turns the capture's last-frame time into online/offline transitions (the offline signal).

    A camera that never delivered is offline once ``offline_after_s`` has
    passed since the watch started; one that stops delivering, that long
    after its last frame. Only transitions produce a :class:`CameraStatus`.
    """

    def __init__(self, camera: str, offline_after_s: float, started_mono: float) -> None:
        self._camera = camera
        self._after = offline_after_s
        self._started = started_mono
        self.online: bool | None = None

    def check(self, last_frame_mono: float | None, error: str, now_mono: float, now: float) -> CameraStatus | None:
        fresh = last_frame_mono is not None and now_mono - last_frame_mono <= self._after
        if fresh and self.online is not True:
            self.online = True
            return CameraStatus(self._camera, True, now)
        since = last_frame_mono if last_frame_mono is not None else self._started
        if not fresh and self.online is not False and now_mono - since > self._after:
            self.online = False
            reason = error or f"no frame for {self._after:g} s"
            return CameraStatus(self._camera, False, now, reason)
        return None

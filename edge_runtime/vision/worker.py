"""One camera's worker process: capture -> preprocess -> infer -> postprocess.

Started by the supervisor with the ``spawn`` (or ``forkserver``) method: the
daemon has threads (paho, the SQLite writer), and a forked copy of a threaded
process can deadlock on a lock some other thread held. Inside the worker three
stages overlap, each on its own thread: the capture thread decodes the newest
frame into shared memory; the main thread takes the newest one (older ones are
dropped and counted), preprocesses it and runs the model at most ``fps`` times
a second; the output thread decodes the boxes of that frame while the model
already runs the next one, and sends back a :class:`FrameDetections` of small
objects (ids, boxes, lineage, timings). Pixels stay in shared memory: the
processed frame (for snapshots) and an annotated copy (for the dashboard).

Model swap: a new package is loaded and test-run on a thread beside the
running model and replaces it between two frames only when both succeeded;
otherwise the old one keeps running and the failure is reported. A model that
cannot load at start ends the worker with :data:`EXIT_MODEL` after reporting
why; the supervisor restarts it with backoff.

Shadow run (:class:`ShadowModel`): a candidate is loaded on a thread, timed on
the last real frame, then run by the inference thread on the active model's own
preprocessed frames, only when the next frame is not due before it would
finish (:mod:`.shadow`); it ends with a :class:`ShadowResult` after its
duration or at its first error, which never ends the worker.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any
from multiprocessing.connection import Connection
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.child_process import die_with_parent, name_process
from edge_runtime.config.cameras import CameraConfig, ImageZone
from edge_runtime.logs import setup_logging, verbosity_of

from .detections import Detection, FrameDetections
from .frame_buffer import Frame, FrameRing
from .geometry import Locator
from .model_runner import ModelRunner
from .preprocess import LetterboxTransform
from .shadow import ShadowRun, ShadowStats
from .sources import Capture, LinkWatch

log = logging.getLogger(__name__)

EXIT_MODEL = 3  # the model could not be loaded
HEARTBEAT_S = 1.0
ANNOTATE_EVERY_S = 0.2  # the dashboard's live view needs no more; drawing is off the inference budget
_WAIT_S = 0.25  # longest the main loop sleeps before looking at commands and the link again
CALIBRATION_RUNS = 3  # timed candidate runs on the loader thread before its shadow run starts
_INTERVALS = 8  # the next frame is expected after the median of the last few frame intervals


# -- messages (worker -> supervisor) and commands (supervisor -> worker) -----------------------

@dataclass(slots=True)
class ModelReady:
    """A model is running: at start (``swapped`` False) or after a hot swap."""

    camera: str
    lineage: dict[str, str]
    swapped: bool = False


@dataclass(slots=True)
class ModelFailed:
    """A model did not load or failed its test inference; for a swap the old one keeps running."""

    camera: str
    error: str
    swap: bool = False


@dataclass(slots=True)
class WorkerFailed:
    """The running model failed on a frame (an inference or decode error): the worker exits next."""

    camera: str
    error: str


@dataclass(slots=True)
class Heartbeat:
    """Alive, with counters for health pages and benchmarks."""

    camera: str
    ts: float
    stats: dict[str, float]


@dataclass(slots=True)
class ShadowResult:
    """A shadow run ended: its totals, with ``stats.error`` set when the candidate failed."""

    camera: str
    stats: ShadowStats


@dataclass(slots=True)
class SwapModel:
    path: str


@dataclass(slots=True)
class ShadowModel:
    """Run ``path`` beside the active model for ``duration_s``, at most ``max_rate`` frames a second."""

    path: str
    duration_s: float
    max_rate: float = 5.0


@dataclass(slots=True)
class Stop:
    pass


@dataclass(slots=True)
class _Prepared:
    """A frame preprocessed for ``runner`` (the inference thread re-prepares it if a swap replaced
    that runner in between: the new model may take another input size)."""

    frame: Frame
    runner: ModelRunner
    tensor: np.ndarray
    transform: LetterboxTransform
    preprocess_ms: float
    started: float  # perf_counter at the start of preprocessing


@dataclass(slots=True)
class _Inferred:
    """A frame the model has run on, for the output thread, with the runner that ran it."""

    prepared: _Prepared
    runner: ModelRunner
    outputs: list[np.ndarray]
    inference_ms: float


@dataclass(slots=True)
class WorkerSpec:
    """Everything a worker needs; pickled once at spawn (rings travel by name)."""

    camera: CameraConfig
    model: Path
    capture: FrameRing
    processed: FrameRing
    annotated: FrameRing
    trusted_keys: dict[str, bytes] | None = None
    require_signature: bool = True
    nice: int = 0
    idle_policy: bool = False
    log_level: int = logging.WARNING


def load_runner(spec: WorkerSpec, path: Path) -> ModelRunner:
    """A ModelRunner for ``path`` with this camera's back-end and thread count."""
    threads = spec.camera.threads
    return ModelRunner.load(
        path, backend=spec.camera.backend,
        config={"litert": {"num_threads": threads}, "onnxruntime": {"num_threads": threads}},
        trusted_keys=spec.trusted_keys, require_signature=spec.require_signature,
    )


ZONE_COLOR = (0, 190, 255)  # amber (BGR): image zones, distinct from the box colours


def annotate(image: np.ndarray, detections: list[Detection], zones: tuple[ImageZone, ...] = ()) -> np.ndarray:
    """A copy of the frame with the camera's image zones, boxes and labels drawn (the dashboard's live view)."""
    out = image.copy()
    for z in zones:
        points = np.round(np.asarray(z.polygon, np.float32)).astype(np.int32)
        cv2.polylines(out, [points], isClosed=True, color=ZONE_COLOR, thickness=2)
        x, y = points.min(axis=0)
        cv2.putText(out, z.zone, (int(x) + 4, int(y) + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ZONE_COLOR, 1)
    for d in detections:
        x1, y1, x2, y2 = (int(v) for v in d.box)
        color = (0, 200, 0) if d.label == "person" else (0, 0, 230)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        cv2.putText(out, f"{d.label} {d.score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    return out


class Worker:
    """The worker's main loop; :func:`worker_main` is the process entry point."""

    def __init__(self, spec: WorkerSpec, results: Connection, commands: Connection) -> None:
        self.spec = spec
        self.camera = spec.camera
        self._results = results
        self._commands = commands
        self._stop = threading.Event()
        self._new_frame = threading.Event()
        self._demand = threading.Event()
        self._demand.set()
        self._reader = spec.capture.reader()
        self._capture = Capture(self.camera, spec.capture, on_frame=self._new_frame.set, demand=self._demand)
        self._link: LinkWatch  # started with the capture, by run()
        self._locator = Locator(self.camera)
        self._runner: ModelRunner  # set by run() before the loop starts
        self._swap: ModelRunner | None = None  # loaded and tested, waiting for the next frame boundary
        self._swap_error: str | None = None
        self._swapping = False
        self._shadow: ShadowRun | None = None  # owned by the inference thread once set
        self._shadowing = False  # a shadow run is loading or running
        self._starts: list[float] = []  # monotonic starts of the last active inferences
        self._last_frame: Frame | None = None
        self._next_annotation = 0.0
        # stage hand-overs: main (prepare) -> inference -> output; one frame in each at most
        self._prepared: queue.Queue[_Prepared | None] = queue.Queue(maxsize=1)
        self._inferred: queue.Queue[_Inferred | None] = queue.Queue(maxsize=1)
        self._model_free = threading.Event()  # the inference thread has taken the last prepared frame
        self._model_free.set()
        self._send_lock = threading.Lock()  # three threads send on one pipe
        self._failure: BaseException | None = None  # from the inference or output thread; ends the worker
        self.processed = 0

    def run(self) -> int:
        """Capture starts first (the source connects while the model loads); returns the exit code."""
        capture = threading.Thread(target=self._capture.run, args=(self._stop,), name=f"capture-{self.camera.id}", daemon=True)
        capture.start()
        self._link = LinkWatch(self.camera.id, self.camera.offline_after_s, time.monotonic())
        try:
            try:
                self._runner = load_runner(self.spec, self.spec.model)
            except Exception as exc:
                self._send(ModelFailed(self.camera.id, _describe(exc)))
                return EXIT_MODEL
            self._send(ModelReady(self.camera.id, self._runner.lineage.as_dict()))
            stages = [threading.Thread(target=fn, name=f"{name}-{self.camera.id}", daemon=True)
                      for fn, name in ((self._infer_loop, "infer"), (self._output_loop, "output"))]
            for t in stages:
                t.start()
            try:
                self._loop()
            finally:
                _put_last(self._prepared)  # the stages finish what they hold, then end in order
                for t in stages:
                    t.join(5.0)
            self._runner.close()
            if self._failure is not None:
                self._send(WorkerFailed(self.camera.id, _describe(self._failure)))  # the supervisor says why
                raise self._failure
            return 0
        finally:
            self._stop.set()
            capture.join(2.0)

    def request_stop(self) -> None:
        self._stop.set()
        self._new_frame.set()

    def _loop(self) -> None:
        min_interval = 1.0 / self.camera.fps
        next_due = next_beat = 0.0
        while not self._stop.is_set():
            self._commands_in()
            self._report_swap_failure()
            now_mono = time.monotonic()
            if now_mono >= next_beat:
                self._heartbeat()
                next_beat = now_mono + HEARTBEAT_S
            status = self._link.check(self._capture.last_frame_mono, self._capture.last_error, now_mono, time.time())
            if status is not None:
                self._send(status)
            if now_mono < next_due:  # the rate cap: newer frames keep replacing the one waiting
                self._stop.wait(min(next_due - now_mono, _WAIT_S))
                continue
            if not self._model_free.wait(_WAIT_S):  # the model is busy: the newest frame is taken later
                continue
            if not self._new_frame.wait(_WAIT_S):
                continue
            self._new_frame.clear()
            frame = self._reader.latest()
            if frame is None:
                continue
            self._demand.set()
            # due times advance on a fixed grid, so a source at the cap's own rate is taken frame by
            # frame as it arrives, not a period late; after a stall at most half a frame of catch-up
            started = time.monotonic()
            next_due = max(next_due + min_interval, started - min_interval / 2)
            self._process(frame)

    def _process(self, frame: Frame) -> None:
        """Preprocess on this thread while the model still runs the previous frame."""
        self._model_free.clear()
        self._prepared.put(self._prepare(frame, self._runner))

    @staticmethod
    def _prepare(frame: Frame, runner: ModelRunner) -> _Prepared:
        t0 = time.perf_counter()
        tensor, transform = runner.preprocessor(frame.image)
        return _Prepared(frame, runner, tensor, transform, (time.perf_counter() - t0) * 1e3, t0)

    def _infer_loop(self) -> None:
        """Inference thread: the model, and model swaps between two frames."""
        try:
            while True:
                try:
                    item = self._prepared.get(timeout=_WAIT_S)
                except queue.Empty:
                    self._apply_swap()  # a camera that sends no frames still takes a new model
                    self._shadow_expiry()
                    continue
                if item is None:
                    break
                self._model_free.set()
                if self._failure is not None:
                    continue
                runner = self._apply_swap()
                if item.runner is not runner:
                    item = self._prepare(item.frame, runner)
                self._starts = (self._starts + [time.monotonic()])[-_INTERVALS - 1:]
                t0 = time.perf_counter()
                outputs = runner.infer_tensor(item.tensor)
                self._last_frame = item.frame
                self._inferred.put(_Inferred(item, runner, outputs, (time.perf_counter() - t0) * 1e3))
                self._shadow_step(item)
        except BaseException as exc:  # an inference error ends the worker; the supervisor restarts it
            self._fail(exc)
        finally:
            if self._shadow is not None:
                self._end_shadow("the camera worker stopped")
            _put_last(self._inferred)

    # -- shadow run (inference thread) ------------------------------------------------------

    def _next_frame_at(self) -> float | None:
        """When the active model's next frame is expected: now, if one is already waiting."""
        if not self._prepared.empty():
            return time.monotonic()
        starts = self._starts
        if len(starts) < 2:
            return None
        intervals = sorted(b - a for a, b in zip(starts, starts[1:]))
        return starts[-1] + intervals[len(intervals) // 2]  # one late frame's catch-up does not count

    def _shadow_step(self, item: _Prepared) -> None:
        """The candidate on the frame the active model just took, if it fits before the next one."""
        shadow = self._shadow
        if shadow is None or self._shadow_expiry():
            return
        if not shadow.fits(time.monotonic(), self._next_frame_at()):
            return
        try:
            shadow.step(item.frame.image, item.frame.frame_id, item.tensor, item.transform)
        except Exception as exc:  # the candidate's failure ends its run, never the worker
            self._end_shadow(_describe(exc))

    def _shadow_expiry(self) -> bool:
        if self._shadow is not None and self._shadow.expired():
            self._end_shadow(None)
            return True
        return False

    def _end_shadow(self, error: str | None) -> None:
        shadow, self._shadow = self._shadow, None
        if shadow is not None:
            stats = shadow.finish(error)
            self._shadowing = False  # before the result goes: the supervisor may send the next run at once
            self._send(ShadowResult(self.camera.id, stats))

    def _output_loop(self) -> None:
        """Output thread: decode, place, publish and annotate each inferred frame in order."""
        while (item := self._inferred.get()) is not None:
            if self._failure is not None:
                continue
            try:
                self._finish(item)
            except BaseException as exc:  # an undecodable output ends the worker like an inference error
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self.request_stop()

    def _finish(self, item: _Inferred) -> None:
        prepared, frame = item.prepared, item.prepared.frame
        t0 = time.perf_counter()
        detections = item.runner.decode(item.outputs, prepared.transform)
        postprocess_ms = (time.perf_counter() - t0) * 1e3
        if (shadow := self._shadow) is not None:
            shadow.offer_active(frame.frame_id, detections, item.inference_ms)
        self._locator.place(detections)
        done = time.time()
        self.spec.processed.write(frame.image, frame.ts, frame.frame_id)  # there before its detections arrive
        lineage = item.runner.lineage
        h, w = frame.image.shape[:2]
        self._send(FrameDetections(
            camera=self.camera.id, frame_id=frame.frame_id, ts=frame.ts, width=w, height=h,
            detections=detections, model=lineage.model, model_version=lineage.version,
            model_sha256=lineage.sha256, backend=lineage.backend, inference_ms=item.inference_ms,
            latency_ms=(done - frame.ts) * 1000.0,
            extra={"preprocess_ms": prepared.preprocess_ms, "postprocess_ms": postprocess_ms,
                   "pipeline_ms": (time.perf_counter() - prepared.started) * 1000.0,
                   "dropped_total": self._reader.dropped},
        ))
        if done >= self._next_annotation:
            self._next_annotation = done + ANNOTATE_EVERY_S
            self.spec.annotated.write(annotate(frame.image, detections, self.camera.zones), frame.ts, frame.frame_id)
        self.processed += 1

    # -- commands and model swap ---------------------------------------------------------------

    def _commands_in(self) -> None:
        while self._commands.poll():
            try:
                command = self._commands.recv()
            except (EOFError, OSError):  # the supervisor is gone: nobody reads our results
                self.request_stop()
                return
            if isinstance(command, Stop):
                self.request_stop()
            elif isinstance(command, SwapModel) and not self._swapping:
                self._swapping = True
                threading.Thread(target=self._load_new, args=(Path(command.path),), daemon=True).start()
            elif isinstance(command, ShadowModel):
                if self._shadowing:
                    self._send(ShadowResult(self.camera.id, ShadowStats(error="a shadow run is already under way")))
                else:
                    self._shadowing = True
                    threading.Thread(target=self._load_shadow, args=(command,), daemon=True).start()

    def _load_new(self, path: Path) -> None:
        """Loader thread: load (which warms up on a blank frame), then a test inference on the
        last real frame, before the running model is touched."""
        try:
            runner = load_runner(self.spec, path)
            if self._last_frame is not None:
                runner.detect(self._last_frame.image)
        except Exception as exc:
            self._swap_error = _describe(exc)
            return
        self._swap = runner

    def _load_shadow(self, command: ShadowModel) -> None:
        """Loader thread: load the candidate and time it on the last real frame; the inference
        thread takes it from there (its estimate of the candidate's step starts from these runs)."""
        runner: ModelRunner | None = None
        try:
            runner = load_runner(self.spec, Path(command.path))
            frame = self._last_frame
            runs = [runner.detect(frame.image)[1] if frame is not None else runner.warm_up()
                    for _ in range(CALIBRATION_RUNS)]
        except Exception as exc:
            if runner is not None:
                runner.close()
            self._shadowing = False
            self._send(ShadowResult(self.camera.id, ShadowStats(error=_describe(exc))))
            return
        self._shadow = ShadowRun(runner, self._runner, command.duration_s, command.max_rate,
                                 [t.inference_ms for t in runs])

    def _report_swap_failure(self) -> None:
        if self._swap_error is not None:
            self._send(ModelFailed(self.camera.id, self._swap_error, swap=True))
            self._swap_error, self._swapping = None, False

    def _apply_swap(self) -> ModelRunner:
        """On the inference thread, between two frames: the old runtime is closed only when idle."""
        if self._swap is not None:
            runner, self._swap, self._swapping = self._swap, None, False
            self._runner = self._runner.swap(runner)
            self._send(ModelReady(self.camera.id, runner.lineage.as_dict(), swapped=True))
        return self._runner

    def _heartbeat(self) -> None:
        self._send(Heartbeat(self.camera.id, time.time(), {
            "captured": self._capture.frames, "processed": self.processed, "dropped": self._reader.dropped,
            "reconnects": self._capture.reconnects, "ring_skipped": self.spec.capture.skipped,
        }))

    def _send(self, message: object) -> None:
        try:
            with self._send_lock:
                self._results.send(message)
        except (BrokenPipeError, OSError):  # the supervisor is gone
            self.request_stop()


def _put_last(stage: queue.Queue[Any]) -> None:
    """Ends a stage thread after what it holds: its input may be full only while it is alive."""
    while True:
        try:
            stage.put(None, timeout=_WAIT_S)
            return
        except queue.Full:
            try:
                stage.get_nowait()  # its thread is gone (a failure): drop what it never took
            except queue.Empty:
                pass


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def worker_main(spec: WorkerSpec, results: Connection, commands: Connection) -> None:
    """Process entry point (must stay importable at module level for spawn)."""
    die_with_parent()
    name_process(f"sg-cam-{spec.camera.id}")
    setup_logging(verbosity_of(spec.log_level))
    os.nice(spec.nice)  # under CPU contention the daemon's sensor alarm path goes first
    if spec.idle_policy and hasattr(os, "SCHED_IDLE"):
        # before any thread starts, so the capture thread and the runtime's pool inherit it: a
        # waking sensor path preempts us at once instead of after the scheduler's granularity
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    cv2.setNumThreads(1)  # the model runtime has the threads; OpenCV's own pool would fight it
    # a stream that is down is retried and logged by the capture: FFmpeg and OpenCV need not
    # repeat it on stderr at every attempt (read when FFmpeg is first used, after the import)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    worker = Worker(spec, results, commands)
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the daemon, which stops us in order
    code = 0
    try:
        code = worker.run()
    finally:
        for ring in (spec.capture, spec.processed, spec.annotated):
            ring.close()
    raise SystemExit(code)

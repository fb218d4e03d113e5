"""The camera supervisor, in the daemon: one worker process per camera, results onto the bus.

Frigate's process split: the daemon's event loop never captures, decodes or
infers. For each camera the supervisor owns three shared-memory frame rings
(capture, processed, annotated: they outlive worker restarts) and runs the
worker with the ``spawn`` start method (the daemon has threads; never fork
it). A reader thread per worker blocks on the worker's pipe and hands
batches to the loop with ``call_soon_threadsafe``, so a dead or stuck worker
can never block the loop; the loop publishes :class:`FrameDetections` and
:class:`CameraStatus` on the bus.

Supervision: a worker that exits is restarted after the shared backoff's
delay (reset once a restarted worker delivered detections); after
``offline_after_restarts`` deaths in a row without a frame the camera is
reported offline until one arrives. A worker silent for ``stall_s`` (or
``load_timeout_s`` while loading its model) is killed, which counts as a death.
The camera's own link (frames arriving or not) comes from the worker.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

from edge_runtime.config.cameras import CameraConfig, VisionSettings
from firmware_bridge.backoff import Backoff

from .detections import CameraStatus, FrameDetections
from .frame_buffer import Frame, FrameRing
from .snapshots import SnapshotSink, SnapshotStore, SnapshotWriter
from .worker import Heartbeat, ModelFailed, ModelReady, Stop, SwapModel, WorkerSpec, worker_main

log = logging.getLogger(__name__)

BATCH = 32  # messages handed to the loop per wake-up
WATCH_S = 1.0
STOP_GRACE_S = 3.0


@dataclass(slots=True)
class _Camera:
    """One camera's worker and what the supervisor knows about it."""

    config: CameraConfig
    model: Path
    rings: tuple[FrameRing, FrameRing, FrameRing]  # capture, processed, annotated
    backoff: Backoff
    process: BaseProcess | None = None
    commands: Connection | None = None
    incarnation: int = 0
    ready: bool = False
    last_heard: float = 0.0  # monotonic
    failures: int = 0  # deaths in a row without a frame
    link: bool | None = None  # the worker's view: frames arriving
    published: bool | None = None  # what the bus was last told
    reason: str = ""
    last_error: str = ""
    lineage: dict[str, str] = field(default_factory=dict)
    pending_model: Path | None = None
    stats: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    restarts: int = 0
    restart: asyncio.TimerHandle | None = None


class VisionSupervisor:
    """Starts, watches and restarts the camera workers; see the module docstring."""

    def __init__(
        self,
        cameras: tuple[CameraConfig, ...],
        settings: VisionSettings,
        publish: Callable[[object], None],
        *,
        snapshot_dir: Path,
        on_snapshot: SnapshotSink | None = None,
        context: SpawnContext | ForkServerContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configs = cameras
        self._settings = settings
        self._publish = publish
        self._ctx = context or mp.get_context("spawn")
        self._clock = clock
        self._cameras: dict[str, _Camera] = {}  # from start() on
        self.snapshots = SnapshotWriter(
            SnapshotStore(snapshot_dir, settings.snapshot_budget_bytes), self.processed_frame,
            bands={c.id: c.hard_example_band for c in cameras}, interval_s=settings.snapshot_interval_s,
            on_saved=on_snapshot,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._spawning: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn every worker (without waiting for models to load) and the watchdog."""
        self._loop = asyncio.get_running_loop()
        settings = self._settings
        for config in self._configs:
            slot = config.max_width * config.max_height * 3  # pages are only used as frames fill them
            rings = (FrameRing.create(slot, slots=3, ctx=self._ctx), FrameRing.create(slot, slots=3, ctx=self._ctx),
                     FrameRing.create(slot, slots=2, ctx=self._ctx))
            backoff = Backoff(initial=settings.restart_initial_s, maximum=settings.restart_max_s)
            self._cameras[config.id] = _Camera(config, config.model_path(), rings, backoff)
        self.snapshots.start()
        for cam in self._cameras.values():
            await self._spawn(cam)
        self._watch = asyncio.create_task(self._watchdog(), name="vision-watchdog")

    async def stop(self) -> None:
        """Ask every worker to stop, then terminate or kill the ones that do not; free shared memory."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        for cam in self._cameras.values():
            if cam.restart is not None:
                cam.restart.cancel()
        await asyncio.gather(*self._spawning, return_exceptions=True)  # a start under way completes, then stops
        for cam in self._cameras.values():
            self._command(cam, Stop())
        await asyncio.to_thread(self._reap)
        self.snapshots.stop()
        for cam in self._cameras.values():
            for ring in cam.rings:
                ring.unlink()
        self._cameras.clear()

    def _reap(self) -> None:
        """Stop, then terminate, then kill what is still running, each by a deadline. Exits are
        watched on the process sentinels; reaping them is the reader threads' job alone."""
        pending = {c.process.sentinel: c.process for c in self._cameras.values() if c.process is not None}
        steps: tuple[tuple[float, Callable[[BaseProcess], None] | None], ...] = (
            (STOP_GRACE_S, None), (1.0, BaseProcess.terminate), (1.0, BaseProcess.kill),
        )
        for grace, action in steps:
            if action is not None:
                for proc in pending.values():
                    action(proc)
            deadline = time.monotonic() + grace
            while pending and (left := deadline - time.monotonic()) > 0:
                for sentinel in wait(list(pending), left):
                    pending.pop(cast(int, sentinel))
        for thread in self._threads:
            thread.join(2.0)

    # -- queries and commands -----------------------------------------------------------------

    def swap_model(self, camera: str, package: Path) -> None:
        """Hot swap: the worker loads and test-runs ``package`` beside the running model."""
        cam = self._cameras[camera]
        cam.pending_model = Path(package)
        self._command(cam, SwapModel(str(package)))

    def processed_frame(self, camera: str, frame_id: int) -> Frame | None:
        """The frame ``frame_id`` as the model saw it, while the ring still holds it."""
        cam = self._cameras.get(camera)
        return cam.rings[1].find(frame_id) if cam is not None else None

    def annotated_frame(self, camera: str) -> Frame | None:
        """The newest annotated frame (image zones and boxes drawn): the dashboard's live view."""
        cam = self._cameras.get(camera)
        return cam.rings[2].newest() if cam is not None else None

    def pid(self, camera: str) -> int | None:
        cam = self._cameras.get(camera)
        return cam.process.pid if cam is not None and cam.process is not None else None

    def status(self) -> dict[str, dict[str, Any]]:
        """Per camera: online, model lineage, restarts, last error and the worker's counters."""
        return {
            cid: {"online": c.published, "reason": c.reason, "model": c.lineage, "restarts": c.restarts,
                  "frames": c.frames, "last_error": c.last_error, "worker": c.stats}
            for cid, c in self._cameras.items()
        }

    # -- workers ------------------------------------------------------------------------------

    async def _spawn(self, cam: _Camera) -> None:
        if self._stopping:
            return
        cam.incarnation += 1
        cam.ready, cam.restart = False, None
        results, results_child = self._ctx.Pipe(duplex=False)
        commands_child, commands = self._ctx.Pipe(duplex=False)
        capture, processed, annotated = cam.rings
        spec = WorkerSpec(
            cam.config, cam.model, capture, processed, annotated,
            trusted_keys=self._settings.keys(), require_signature=self._settings.require_signature,
            nice=self._settings.worker_nice,
            idle_policy=self._settings.worker_policy == "idle",
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        proc = self._ctx.Process(
            target=worker_main, args=(spec, results_child, commands_child), name=f"camera-{cam.config.id}", daemon=True
        )
        await asyncio.to_thread(proc.start)  # writes the spec down a pipe: off the loop
        results_child.close()
        commands_child.close()
        cam.process, cam.commands, cam.last_heard = proc, commands, time.monotonic()
        thread = threading.Thread(
            target=self._pump, args=(cam, cam.incarnation, results, proc), name=f"vision-{cam.config.id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _pump(self, cam: _Camera, incarnation: int, results: Connection, proc: BaseProcess) -> None:
        """Reader thread: blocking receives, batches to the loop; the exit once the pipe closes."""
        while True:
            try:
                batch = [results.recv()]
                while len(batch) < BATCH and results.poll():
                    batch.append(results.recv())
            except (EOFError, OSError):
                break
            except Exception:  # an unpicklable message: log it, keep reading
                log.exception("bad message from camera worker %s", cam.config.id)
                continue
            self._to_loop(self._on_messages, cam, incarnation, batch)
        results.close()
        proc.join(5.0)
        self._to_loop(self._on_exit, cam, incarnation, proc.exitcode)

    def _to_loop(self, fn: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the daemon is gone
            pass

    def _on_messages(self, cam: _Camera, incarnation: int, batch: list[object]) -> None:
        if incarnation != cam.incarnation:
            return  # a late word from a worker already replaced
        cam.last_heard = time.monotonic()
        for msg in batch:
            if isinstance(msg, FrameDetections):
                cam.frames += 1
                if cam.failures:  # detections are the proof a restart worked
                    cam.failures, cam.last_error = 0, ""
                    cam.backoff.reset()
                    self._report(cam)
                self.snapshots.hard_examples(msg)
                self._publish(msg)
            elif isinstance(msg, CameraStatus):
                cam.link = msg.online
                if not msg.online:
                    cam.reason = msg.reason
                self._report(cam)
            elif isinstance(msg, Heartbeat):
                cam.stats = msg.stats
            elif isinstance(msg, ModelReady):
                self._model_ready(cam, msg)
            elif isinstance(msg, ModelFailed):
                cam.last_error = msg.error
                log.error("camera model failed%s", " (old model kept)" if msg.swap else "",
                          extra={"camera": cam.config.id, "error": msg.error})

    def _model_ready(self, cam: _Camera, msg: ModelReady) -> None:
        cam.ready, cam.lineage = True, msg.lineage
        if msg.swapped and cam.pending_model is not None:
            cam.model, cam.pending_model = cam.pending_model, None  # restarts now load the new model
        log.warning("camera model %s", "swapped" if msg.swapped else "loaded",
                    extra={"camera": cam.config.id, **msg.lineage})

    def _on_exit(self, cam: _Camera, incarnation: int, code: int | None) -> None:
        if incarnation != cam.incarnation or self._stopping:
            return
        cam.process, cam.commands, cam.ready, cam.link = None, None, False, None
        cam.failures += 1
        cam.restarts += 1
        why = cam.last_error or f"worker exited with code {code}"
        if cam.failures >= self._settings.offline_after_restarts:
            cam.reason = f"camera worker failed {cam.failures} times in a row: {why}"
        self._report(cam)
        delay = cam.backoff.next_delay()
        log.warning("camera worker exited; restarting", extra={"camera": cam.config.id, "code": code, "in_s": round(delay, 2)})
        assert self._loop is not None
        cam.restart = self._loop.call_later(delay, self._respawn, cam)

    def _respawn(self, cam: _Camera) -> None:
        task = asyncio.ensure_future(self._spawn(cam))
        self._spawning.add(task)
        task.add_done_callback(self._spawned)

    def _spawned(self, task: asyncio.Task[None]) -> None:
        self._spawning.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("camera worker could not be started", exc_info=task.exception())

    def _report(self, cam: _Camera) -> None:
        """Publish a CameraStatus when the camera's usable state changes."""
        failing = cam.failures >= self._settings.offline_after_restarts
        online = bool(cam.link) and not failing
        if not failing and cam.link is None:
            return  # a (re)starting worker that has not judged its link yet
        if online == cam.published:
            return
        cam.published = online
        self._publish(CameraStatus(cam.config.id, online, self._clock(), "" if online else cam.reason))

    def _command(self, cam: _Camera, command: object) -> None:
        if cam.commands is None:
            return
        try:
            cam.commands.send(command)
        except OSError:  # the worker is already gone; its exit is on the way
            pass

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            now = time.monotonic()
            for cam in self._cameras.values():
                limit = self._settings.stall_s if cam.ready else self._settings.load_timeout_s
                if cam.process is not None and now - cam.last_heard > limit:
                    cam.last_error = f"worker silent for {limit:g} s"
                    log.error("camera worker stalled; killing it", extra={"camera": cam.config.id})
                    cam.process.kill()
                    cam.last_heard = now  # one kill per stall; the exit restarts it

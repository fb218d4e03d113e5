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
The camera's own link (frames arriving or not) comes from the worker. A worker
that keeps receiving frames but has processed none for ``stall_s`` (an inference
stuck in a call) is killed too.

Model updates: :meth:`VisionSupervisor.shadow` runs a candidate beside every
camera's model and judges the comparison; :meth:`VisionSupervisor.switch`
moves cameras to a package and says per camera whether it took it. A camera
whose worker runs is hot-swapped between two frames; one whose worker is down
or still loading (a crash loop) is restarted on the package at once, not after
its backoff, which is what makes a rollback take seconds. A camera that does
not take the package keeps (or restarts on) its previous model. Every exit,
stall and inference time is kept (bounded) for the update agent's health watch
(:meth:`VisionSupervisor.watch`).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

from edge_runtime.config.cameras import CameraConfig, VisionSettings
from firmware_bridge.backoff import Backoff

from .detections import CameraStatus, FrameDetections
from cloud_sync.contract.rollout import ShadowSummary

from .frame_buffer import Frame, FrameRing
from .shadow import ShadowFailed, ShadowRule, ShadowStats
from .snapshots import SnapshotSink, SnapshotStore, SnapshotWriter
from .worker import (Heartbeat, ModelFailed, ModelReady, ShadowModel, ShadowResult, Stop, SwapModel, WorkerFailed,
                     WorkerSpec, worker_main)

log = logging.getLogger(__name__)

BATCH = 32  # messages handed to the loop per wake-up
WATCH_S = 1.0
STOP_GRACE_S = 3.0
KEEP_EXITS = 64  # exits, stalls and load failures kept per camera for the health watch
KEEP_SAMPLES = 2048  # (capture ts, inference ms) kept per camera: minutes at camera rates


class SwitchFailed(RuntimeError):
    """A camera did not take the package; it keeps (or restarts on) its previous model."""


@dataclass(slots=True)
class _Switch:
    """A camera on its way to ``target``; ``previous`` is what it keeps if that fails."""

    target: Path
    previous: Path
    done: asyncio.Future[dict[str, str]]


@dataclass(frozen=True, slots=True)
class CameraWatch:
    """What the health watch reads of one camera: wall-clock stamped exits, stalls, load failures, inferences."""

    exits: tuple[tuple[float, int | None, str], ...]  # (ts, exit code, why)
    stalls: tuple[float, ...]
    load_failures: tuple[tuple[float, Path, str], ...]  # (ts, package, error): a worker could not start on it
    samples: tuple[tuple[float, float], ...]  # (capture ts, inference ms)
    frames: int
    running: bool
    lineage: dict[str, str]
    model: Path


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
    running_model: Path | None = None  # what this incarnation loaded (or swapped to)
    stats: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    restarts: int = 0
    restart: asyncio.TimerHandle | None = None
    spawning: bool = False
    last_progress: float = 0.0  # monotonic: a frame processed, or nothing new captured
    switch: _Switch | None = None
    shadow: asyncio.Future[ShadowStats] | None = None
    exits: deque[tuple[float, int | None, str]] = field(default_factory=lambda: deque(maxlen=KEEP_EXITS))
    stalls: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP_EXITS))
    load_failures: deque[tuple[float, Path, str]] = field(default_factory=lambda: deque(maxlen=KEEP_EXITS))
    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=KEEP_SAMPLES))


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

    async def start(self, model: Path | None = None) -> None:
        """Spawn every worker (without waiting for models to load) and the watchdog; every camera on ``model``
        (the update agent's installed package) when given, else on its configured one."""
        self._loop = asyncio.get_running_loop()
        settings = self._settings
        for config in self._configs:
            slot = config.max_width * config.max_height * 3  # pages are only used as frames fill them
            rings = (FrameRing.create(slot, slots=3, ctx=self._ctx), FrameRing.create(slot, slots=3, ctx=self._ctx),
                     FrameRing.create(slot, slots=2, ctx=self._ctx))
            backoff = Backoff(initial=settings.restart_initial_s, maximum=settings.restart_max_s)
            self._cameras[config.id] = _Camera(config, model or config.model_path(), rings, backoff)
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
            if cam.switch is not None:
                self._settle(cam.switch.done, SwitchFailed("the camera supervisor stopped"))
            if cam.shadow is not None and not cam.shadow.done():
                cam.shadow.set_result(ShadowStats(error="the camera supervisor stopped"))
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

    def cameras(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    def watch(self, camera: str) -> CameraWatch:
        c = self._cameras[camera]
        return CameraWatch(tuple(c.exits), tuple(c.stalls), tuple(c.load_failures), tuple(c.samples), c.frames,
                           c.process is not None, dict(c.lineage), c.model)

    # -- model updates ------------------------------------------------------------------------

    async def shadow(self, package: Path, duration_s: float, *, cameras: Iterable[str] | None = None,
                     rule: ShadowRule = ShadowRule(), max_rate: float = 5.0) -> ShadowSummary:
        """``package`` beside the active model on every running camera (or ``cameras``) for ``duration_s``,
        judged by ``rule``; raises :class:`ShadowFailed` when it does not load or fails on a frame."""
        stats = await self.shadow_stats(package, duration_s, cameras=cameras, max_rate=max_rate)
        failed = [f"{cid}: {s.error}" for cid, s in stats.items() if s.error]
        if failed:
            raise ShadowFailed("; ".join(failed))
        merged = ShadowStats(cameras=0)
        for s in stats.values():
            merged = merged.merge(s)
        return rule.summary(merged)

    async def shadow_stats(self, package: Path, duration_s: float, *, cameras: Iterable[str] | None = None,
                           max_rate: float = 5.0) -> dict[str, ShadowStats]:
        """Per camera totals of one shadow run (``error`` set where the candidate failed)."""
        assert self._loop is not None
        chosen = [self._cameras[c] for c in (cameras if cameras is not None else self._cameras)]
        running = [c for c in chosen if c.ready and c.commands is not None and c.shadow is None]
        if not running:
            raise ShadowFailed("no camera worker is running its model")
        for cam in running:
            cam.shadow = self._loop.create_future()
            self._command(cam, ShadowModel(str(package), duration_s, max_rate))
        timeout = duration_s + self._settings.load_timeout_s + 5.0
        deadline = self._loop.time() + timeout
        results: dict[str, ShadowStats] = {}
        for cam in running:
            assert cam.shadow is not None
            try:
                results[cam.config.id] = await asyncio.wait_for(cam.shadow, max(0.0, deadline - self._loop.time()))
            except TimeoutError:
                results[cam.config.id] = ShadowStats(error=f"no shadow result within {timeout:g} s")
            finally:
                cam.shadow = None
        return results

    async def switch(self, package: Path | dict[str, Path], timeout_s: float = 60.0) -> dict[str, dict[str, str] | str]:
        """Move every camera (or those of a {camera: package} map) to its package; per camera the new
        lineage or why it did not take it (it then keeps, or restarts on, its previous model)."""
        assert self._loop is not None
        targets = package if isinstance(package, dict) else {cid: Path(package) for cid in self._cameras}
        waits = {cid: self._begin_switch(self._cameras[cid], Path(path)) for cid, path in targets.items()}
        deadline = self._loop.time() + timeout_s
        outcome: dict[str, dict[str, str] | str] = {}
        for cid, sw in waits.items():
            try:
                outcome[cid] = await asyncio.wait_for(asyncio.shield(sw.done), max(0.0, deadline - self._loop.time()))
            except SwitchFailed as exc:
                outcome[cid] = str(exc)
            except TimeoutError:
                self._abandon(self._cameras[cid], sw)
                outcome[cid] = f"no model ready within {timeout_s:g} s"
        return outcome

    def _begin_switch(self, cam: _Camera, target: Path) -> _Switch:
        assert self._loop is not None
        if cam.switch is not None:
            self._settle(cam.switch.done, SwitchFailed("superseded by another switch"))
        sw = cam.switch = _Switch(target, cam.model, self._loop.create_future())
        if cam.ready and cam.process is not None and cam.running_model == target and cam.pending_model is None:
            self._switched(cam, cam.lineage)  # already running it
        elif cam.ready and cam.process is not None:
            cam.pending_model = target  # hot: between two frames, the old model keeps running until then
            self._command(cam, SwapModel(str(target)))
        else:
            cam.model, cam.pending_model = target, None  # cold: down or loading (a crash loop): restart on it now
            if cam.process is not None:
                cam.process.kill()  # its exit respawns at once (see _on_exit)
            elif not cam.spawning:  # one being started loads the old model: _model_ready swaps it then
                self._respawn_now(cam)
        return sw

    @staticmethod
    def _settle(done: asyncio.Future[dict[str, str]], result: dict[str, str] | BaseException) -> None:
        if done.done():
            return
        if isinstance(result, BaseException):
            done.set_exception(result)
            done.exception()  # retrieved here: a switch nobody awaits any more must not warn
        else:
            done.set_result(result)

    def _switched(self, cam: _Camera, lineage: dict[str, str]) -> None:
        if cam.switch is not None:
            self._settle(cam.switch.done, dict(lineage))
        cam.switch = None

    def _switch_failed(self, cam: _Camera, why: str) -> None:
        sw, cam.switch = cam.switch, None
        if sw is not None:
            cam.model, cam.pending_model = sw.previous, None
            self._settle(sw.done, SwitchFailed(why))

    def _abandon(self, cam: _Camera, sw: _Switch) -> None:
        """A switch given up on: the camera goes back to (or stays on) its previous model."""
        if cam.switch is not sw:
            return
        loading_target = cam.running_model == sw.target and cam.process is not None
        self._switch_failed(cam, "abandoned")
        if loading_target:
            cam.process.kill()  # type: ignore[union-attr]

    # -- workers ------------------------------------------------------------------------------

    async def _spawn(self, cam: _Camera) -> None:
        try:
            await self._start_worker(cam)
        finally:
            cam.spawning = False

    async def _start_worker(self, cam: _Camera) -> None:
        if self._stopping:
            return
        cam.incarnation += 1
        cam.ready, cam.restart = False, None
        cam.running_model = cam.model
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
        cam.process, cam.commands = proc, commands
        cam.last_heard = cam.last_progress = time.monotonic()
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
                cam.samples.append((msg.ts, msg.inference_ms))
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
                if msg.stats.get("processed") != cam.stats.get("processed") or \
                        msg.stats.get("captured") == cam.stats.get("captured"):
                    cam.last_progress = cam.last_heard
                cam.stats = msg.stats
            elif isinstance(msg, ModelReady):
                self._model_ready(cam, msg)
            elif isinstance(msg, ModelFailed):
                self._model_failed(cam, msg)
            elif isinstance(msg, WorkerFailed):
                cam.last_error = msg.error
            elif isinstance(msg, ShadowResult):
                if cam.shadow is not None and not cam.shadow.done():
                    cam.shadow.set_result(msg.stats)

    def _model_ready(self, cam: _Camera, msg: ModelReady) -> None:
        cam.ready, cam.lineage = True, msg.lineage
        cam.last_progress = time.monotonic()
        if msg.swapped and cam.pending_model is not None:
            cam.model, cam.pending_model = cam.pending_model, None  # restarts now load the new model
            cam.running_model = cam.model
        elif msg.swapped and cam.switch is None:  # a swap that completed after its switch was given up
            cam.pending_model = cam.model
            self._command(cam, SwapModel(str(cam.model)))
        log.warning("camera model %s", "swapped" if msg.swapped else "loaded",
                    extra={"camera": cam.config.id, **msg.lineage})
        if cam.switch is not None and cam.running_model == cam.switch.target:
            self._switched(cam, msg.lineage)
        elif cam.switch is not None and cam.pending_model is None:  # came up on the old model mid-switch
            cam.pending_model = cam.switch.target
            self._command(cam, SwapModel(str(cam.switch.target)))

    def _model_failed(self, cam: _Camera, msg: ModelFailed) -> None:
        cam.last_error = msg.error
        if msg.swap:
            cam.pending_model = None
        else:
            cam.load_failures.append((self._clock(), cam.running_model or cam.model, msg.error))
        log.error("camera model failed%s", " (old model kept)" if msg.swap else "",
                  extra={"camera": cam.config.id, "error": msg.error})
        if cam.switch is not None and (msg.swap or cam.running_model == cam.switch.target):
            self._switch_failed(cam, msg.error)

    def _on_exit(self, cam: _Camera, incarnation: int, code: int | None) -> None:
        if incarnation != cam.incarnation or self._stopping:
            return
        cam.process, cam.commands, cam.ready, cam.link = None, None, False, None
        cam.failures += 1
        cam.restarts += 1
        why = cam.last_error or f"worker exited with code {code}"
        cam.exits.append((self._clock(), code, why))
        if cam.shadow is not None and not cam.shadow.done():
            cam.shadow.set_result(ShadowStats(error=f"the camera worker exited during the shadow run: {why}"))
        if cam.switch is not None:
            if cam.running_model != cam.switch.target:  # a hot swap in flight, or a loading worker we killed
                cam.model, cam.pending_model = cam.switch.target, None
                self._report(cam)
                self._respawn_now(cam)
                return
            self._switch_failed(cam, f"the worker exited while loading the model: {why}")
        if cam.failures >= self._settings.offline_after_restarts:
            cam.reason = f"camera worker failed {cam.failures} times in a row: {why}"
        self._report(cam)
        delay = cam.backoff.next_delay()
        log.warning("camera worker exited; restarting", extra={"camera": cam.config.id, "code": code, "in_s": round(delay, 2)})
        assert self._loop is not None
        cam.restart = self._loop.call_later(delay, self._respawn, cam)

    def _respawn_now(self, cam: _Camera) -> None:
        if cam.restart is not None:
            cam.restart.cancel()
        self._respawn(cam)

    def _respawn(self, cam: _Camera) -> None:
        cam.spawning = True
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
                if cam.process is None:
                    continue
                if now - cam.last_heard > limit:
                    cam.last_error = f"worker silent for {limit:g} s"
                elif cam.ready and now - cam.last_progress > limit:
                    cam.last_error = f"inference stalled for {limit:g} s while frames arrive"
                else:
                    continue
                log.error("camera worker stalled; killing it", extra={"camera": cam.config.id, "why": cam.last_error})
                cam.stalls.append(self._clock())
                cam.process.kill()
                cam.last_heard = cam.last_progress = now  # one kill per stall; the exit restarts it

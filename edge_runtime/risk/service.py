"""The risk scorer: scores each raised alarm off the loop, and is the update agent's ``risk`` slot.

On the loop (bus handlers): a RAISED transition snapshots the window of the
alarm's sensors (:mod:`.recent`) and queues a job; a VERDICT labels the
scored alarm (:mod:`.ledger`). On the scoring thread (:mod:`.jobs`): the
window's features (the cloud's own code, :mod:`models.risk.features`), the
active model's score, and during a shadow run the candidate's on the same
row. The score comes back to the loop as a SCORED transition that carries
the model's name, version and sha256; it never changes the alarm's state,
priority or who is told. A switch replaces the model object between two
jobs: the thread reads it once per job.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloud_sync.contract.rollout import ModelRef, Performance, ShadowSummary
from edge_runtime.alarms.engine import AlarmEngine, UnknownAlarm
from edge_runtime.alarms.model import AlarmTransition, TransitionCause
from edge_runtime.config.risk import RiskSettings
from edge_runtime.queue_stats import QueueStats
from edge_runtime.updates.slots import Health, SlotError
from models.package import Manifest
from models.risk.examples import subject_sensors
from models.risk.features import window_features

from .jobs import JobThread
from .ledger import ScoredAlarm, ScoredAlarms
from .model import RiskModel, RiskModelError, input_mismatch
from .recent import RecentReadings, Snapshot, window_of
from .shadow import Judged, ShadowRule, Side, judge

log = logging.getLogger(__name__)
TIMES_KEPT = 2048  # scoring times remembered for p50/p95


@dataclass(frozen=True, slots=True)
class _Job:
    alarm_id: str | None  # None: a shadow run's window of a rostered worker, not an alarm
    t: float
    window: Snapshot


@dataclass(slots=True)
class _Shadow:
    model: RiskModel
    candidate: Side
    active: Side | None
    error: str | None = None


class RiskScorer:
    """See the module docstring. ``keys`` gives the trusted signing keys at the moment a package loads."""

    slot = "risk"

    def __init__(self, settings: RiskSettings, roster: Mapping[str, Sequence[str]], engine: AlarmEngine, *,
                 keys: Callable[[], dict[str, bytes] | None], require_signature: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._roster = {k: tuple(v) for k, v in roster.items()}
        self._engine = engine
        self._keys = keys
        self._require_signature = require_signature
        self._clock = clock
        self.readings = RecentReadings(self._roster)
        self._scored = ScoredAlarms()
        self._thread: JobThread[_Job] = JobThread("risk.scoring", settings.queue, self._work)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._model: RiskModel | None = None
        self._package: Path | None = None
        self._since = 0.0
        self._shadow: _Shadow | None = None
        self._times: deque[tuple[float, float]] = deque(maxlen=TIMES_KEPT)  # (ts, ms) of the active model
        self._errors: deque[tuple[float, str]] = deque(maxlen=64)
        self.scored = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, boot: Path | None = None) -> None:
        """Start the scoring thread, with ``boot`` (the installed active package) or the configured one."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        package = boot or self._settings.model
        if package is not None:
            try:
                await self.activate(package)
            except SlotError as exc:  # the alarms do not need it: they go unscored until a model loads
                log.error("risk model not loaded; alarms go unscored", extra={"package": str(package),
                                                                              "error": str(exc)})

    async def stop(self) -> None:
        await asyncio.to_thread(self._thread.stop)

    # -- the bus ---------------------------------------------------------------------------

    def on_transition(self, t: AlarmTransition) -> None:
        if t.cause is TransitionCause.RAISED:
            if self._model is None and self._shadow is None:
                return
            alarm = t.alarm
            record = {"alarm_id": alarm.alarm_id, "subject": str(alarm.subject), "zone": alarm.zone,
                      "workers": list(alarm.notify.workers)}
            sensors = subject_sensors(record, self._roster, with_zone=True)
            if sensors:
                self._thread.put(_Job(alarm.alarm_id, alarm.raised_ts, self.readings.snapshot(sensors, alarm.raised_ts)))
        elif t.cause is TransitionCause.VERDICT and t.alarm.verdict is not None:
            self._scored.label(t.alarm.alarm_id, t.alarm.verdict.value)

    def queues(self) -> list[QueueStats]:
        return [self._thread.snapshot()]

    # -- the scoring thread ----------------------------------------------------------------

    def _work(self, job: _Job) -> None:
        model, shadow = self._model, self._shadow  # read once: a switch lands between two jobs
        features = window_features(window_of(job.window), job.t)
        if model is not None:
            try:
                scores, ms = model.timed_score(model.rows(features))
            except RiskModelError as exc:
                self._errors.append((self._clock(), str(exc)))
                scores = None
            else:
                self._times.append((self._clock(), ms))
                if shadow is not None and shadow.active is not None:
                    shadow.active.scores.append(float(scores[0]))
                    shadow.active.times_ms.append(ms)
                if job.alarm_id is not None:
                    self._to_loop(self._attach, job.alarm_id, float(scores[0]), model, features, job.t)
        if shadow is not None and shadow.error is None:
            try:
                scores, ms = shadow.model.timed_score(shadow.model.rows(features))
            except RiskModelError as exc:
                shadow.error = str(exc)
            else:
                shadow.candidate.scores.append(float(scores[0]))
                shadow.candidate.times_ms.append(ms)

    def _to_loop(self, fn: Callable[..., None], *args: object) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop is closed: the daemon is stopping
                pass

    def _attach(self, alarm_id: str, score: float, model: RiskModel, features: np.ndarray, t: float) -> None:
        """On the loop: the SCORED transition, and the entry the verdicts will label."""
        try:
            self._engine.score(alarm_id, score, model.lineage)
        except UnknownAlarm:  # closed and forgotten already
            return
        self.scored += 1
        self._scored.add(alarm_id, ScoredAlarm(features, t, model.package.manifest.version, score,
                                               score >= model.threshold))

    # -- the slot (edge_runtime.updates.slots.ModelSlot) -------------------------------------

    def active(self) -> ModelRef | None:
        model = self._model
        return None if model is None else ModelRef(**model.lineage)

    def active_package(self) -> Path | None:
        return self._package

    def input_mismatch(self, manifest: Manifest) -> str | None:
        return input_mismatch(manifest)

    async def shadow(self, package: Path, duration_s: float, *, latency_budget_ms: float | None = None
                     ) -> ShadowSummary:
        """Score every alarm and, every ``shadow_every_s``, each rostered worker's current window with both models."""
        candidate = await self._load(package)
        active = self._model
        run = _Shadow(candidate, Side(candidate.threshold, [], []),
                      None if active is None else Side(active.threshold, [], []))
        self._shadow = run
        try:
            deadline = time.monotonic() + duration_s
            while (left := deadline - time.monotonic()) > 0 and run.error is None:
                now = self._clock()
                for sensors in self._roster.values():
                    self._thread.put(_Job(None, now, self.readings.snapshot(sensors, now)))
                await asyncio.sleep(min(self._settings.shadow_every_s, left))
        finally:
            self._shadow = None
        if run.error is not None:
            raise SlotError(f"the candidate failed in shadow: {run.error}")
        judged = await asyncio.to_thread(self._judged, candidate, active)
        rule = ShadowRule(self._settings.min_confirmed, self._settings.recall_margin)
        return judge(run.candidate, run.active, judged, latency_budget_ms, rule)

    def _judged(self, candidate: RiskModel, active: RiskModel | None) -> Judged | None:
        """Both models on the alarms judged here (a thread: a few hundred rows at most)."""
        x, y = self._scored.labelled()
        if active is None or not len(y):
            return None
        try:
            return Judged(candidate.score(candidate.rows(x)), active.score(active.rows(x)), y)
        except RiskModelError as exc:
            raise SlotError(f"a model failed on the judged alarms: {exc}") from None

    async def activate(self, package: Path) -> ModelRef:
        model = await self._load(package)
        self._model, self._package, self._since = model, Path(package), self._clock()
        log.warning("risk model active", extra={"model": model.lineage["name"], "version": model.lineage["version"],
                                                "sha256": model.lineage["sha256"]})
        return ModelRef(**model.lineage)

    async def _load(self, package: Path) -> RiskModel:
        try:
            return await asyncio.to_thread(RiskModel.load, Path(package), trusted_keys=self._keys(),
                                           require_signature=self._require_signature, threads=self._settings.threads)
        except RiskModelError as exc:
            raise SlotError(str(exc)) from None

    def health(self, since_ts: float, latency_budget_ms: float | None) -> Health:
        errors = [e for ts, e in list(self._errors) if ts >= since_ts]
        times = [ms for ts, ms in list(self._times) if ts >= since_ts]
        p95 = float(np.percentile(times, 95)) if times else None
        problem = None
        if len(errors) >= self._settings.error_limit:
            problem = f"risk scoring failed {len(errors)} times since the switch: {errors[-1]}"
        elif latency_budget_ms is not None and p95 is not None and len(times) >= 5 and p95 > latency_budget_ms:
            problem = f"risk scoring p95 {p95:.1f} ms is over the budget of {latency_budget_ms:g} ms"
        return Health(problem, crashes=len(errors), inference_p95_ms=p95)

    def performance(self) -> Performance:
        model = self._model
        if model is None:
            return Performance()
        verdicts = self._scored.of_version(model.package.manifest.version, self._since)
        times = [ms for ts, ms in list(self._times) if ts >= self._since]
        hours = max(self._clock() - self._since, 1.0) / 3600.0
        return Performance(
            inference_p50_ms=float(np.percentile(times, 50)) if times else None,
            inference_p95_ms=float(np.percentile(times, 95)) if times else None,
            inferences=len(times), alarms=verdicts.alarms, alarms_per_h=verdicts.alarms / hours,
            confirmed=verdicts.confirmed, false=verdicts.false, precision=verdicts.precision,
            recall_confirmed=verdicts.recall_confirmed,
        )

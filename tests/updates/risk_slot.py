"""A real ModelSlot for the tests: a risk model loaded by models/risk/artifact_runtime, scoring rows all along.

It is what the risk scorer's slot does, small: ``activate`` loads the
package's ONNX artifact in onnxruntime, scores a warm-up row and swaps it in
between two scores; a background task scores a row every few milliseconds on
a thread and keeps each score's latency; ``shadow`` runs a candidate on the
same rows as the active model and compares their decisions. Faults are a
slot's own, set by version: a version in ``fail_load`` does not load, one in
``crash`` crashes on every score (the slot counts and restarts it), one in
``slow_ms`` takes that long per score.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloud_sync.contract.rollout import ModelRef, Performance, ShadowSummary
from edge_runtime.updates.slots import Health, SlotError
from models.package import Manifest, load_package
from models.risk.artifact_runtime import ArtifactLoadError, Scorer, open_artifact

THRESHOLD = 0.5
MIN_AGREEMENT = 0.9
SCORE_EVERY_S = 0.005


@dataclass
class Loaded:
    ref: ModelRef
    path: Path
    scorer: Scorer


@dataclass
class RiskSlot:
    rows: np.ndarray  # the "recent sensor windows" scored again and again
    n_features: int
    fail_load: set[str] = field(default_factory=set)
    crash: set[str] = field(default_factory=set)
    slow_ms: dict[str, float] = field(default_factory=dict)
    slot: str = "risk"
    loaded: Loaded | None = None
    activations: list[str] = field(default_factory=list)  # versions switched in, in order
    crashes: list[float] = field(default_factory=list)  # when the active model crashed
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (ts, ms) of the active model's scores
    _task: asyncio.Task[None] | None = None
    _next_row: int = 0

    # ---- ModelSlot ------------------------------------------------------------
    def active(self) -> ModelRef | None:
        return self.loaded.ref if self.loaded else None

    def active_package(self) -> Path | None:
        return self.loaded.path if self.loaded else None

    def input_mismatch(self, manifest: Manifest) -> str | None:
        if manifest.task != "risk":
            return f"the risk slot runs risk models, not {manifest.task}"
        width = manifest.inputs[0].shape[-1]
        return None if width == self.n_features else f"input has {width} features, the scorer feeds {self.n_features}"

    async def shadow(self, package: Path, duration_s: float, *, latency_budget_ms: float | None = None
                     ) -> ShadowSummary:
        candidate = await asyncio.to_thread(self._load, package)
        assert self.loaded is not None
        active = self.loaded
        same, times = 0, {"active": [], "candidate": []}
        deadline, n = time.monotonic() + duration_s, 0
        while time.monotonic() < deadline:
            row = self._row()
            a, ta = await asyncio.to_thread(self._score, active, row)
            c, tc = await asyncio.to_thread(self._score, candidate, row)
            times["active"].append(ta)
            times["candidate"].append(tc)
            same += int((a >= THRESHOLD) == (c >= THRESHOLD))
            n += 1
            await asyncio.sleep(SCORE_EVERY_S)
        agreement = same / n if n else None
        regression = (f"decides alike on {agreement:.0%} of windows, under {MIN_AGREEMENT:.0%}"
                      if agreement is not None and agreement < MIN_AGREEMENT else None)
        return ShadowSummary(compared=n, agreement=agreement, regression=regression,
                             candidate_p95_ms=_p95(times["candidate"]), active_p95_ms=_p95(times["active"]))

    async def activate(self, package: Path) -> ModelRef:
        new = await asyncio.to_thread(self._load, package)
        self.loaded = new  # between two scores: the scoring task reads self.loaded once per score
        self.activations.append(new.ref.version)
        return new.ref

    def health(self, since_ts: float, latency_budget_ms: float | None) -> Health:
        crashes = sum(1 for t in self.crashes if t >= since_ts)
        return Health(crashes=crashes, inference_p95_ms=_p95([ms for t, ms in self.latencies if t >= since_ts]))

    def performance(self) -> Performance:
        ms = [m for _, m in self.latencies[-500:]]
        return Performance(inference_p50_ms=float(np.percentile(ms, 50)) if ms else None, inference_p95_ms=_p95(ms),
                           inferences=len(self.latencies))

    # ---- the scorer at work -----------------------------------------------------
    async def start(self, package: Path, trusted_keys: dict[str, bytes]) -> None:
        """Load the boot package (verified as a daemon would at start) and score rows until :meth:`stop`."""
        await asyncio.to_thread(load_package, package, trusted_keys=trusted_keys)
        await self.activate(package)
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            model = self.loaded
            assert model is not None
            try:
                _, ms = await asyncio.to_thread(self._score, model, self._row())
                self.latencies.append((time.time(), ms))
            except RuntimeError:
                self.crashes.append(time.time())
                await asyncio.sleep(0.05)  # restarting the crashed scorer
            await asyncio.sleep(SCORE_EVERY_S)

    def _load(self, package: Path) -> Loaded:
        manifest = load_package(package).manifest  # hashes only: the agent checked the signature
        if manifest.version in self.fail_load:
            raise SlotError(f"{manifest.version} does not load here")
        artifact = manifest.artifact("onnx")
        assert artifact is not None
        try:
            scorer = open_artifact(package / artifact.path, "onnx")
            scorer(self.rows[:1])  # warm-up
        except ArtifactLoadError as exc:
            raise SlotError(str(exc)) from None
        return Loaded(ModelRef(name=manifest.name, version=manifest.version, sha256=artifact.sha256), package, scorer)

    def _score(self, model: Loaded, row: np.ndarray) -> tuple[float, float]:
        t0 = time.perf_counter()
        if model.ref.version in self.crash:
            raise RuntimeError(f"{model.ref.version} crashed")
        score = float(model.scorer(row[None])[0])
        if delay := self.slow_ms.get(model.ref.version):
            time.sleep(delay / 1000)
        return score, (time.perf_counter() - t0) * 1000

    def _row(self) -> np.ndarray:
        self._next_row = (self._next_row + 1) % len(self.rows)
        return self.rows[self._next_row]


def _p95(ms: list[float]) -> float | None:
    return float(np.percentile(ms, 95)) if len(ms) >= 5 else None

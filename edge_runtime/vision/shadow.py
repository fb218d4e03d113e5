"""A candidate camera model beside the active one: frame comparisons, their totals and the regression rule.

The worker runs a :class:`ShadowRun` on its inference thread only when the
thread would otherwise wait for the next frame (see :meth:`ShadowRun.fits`):
the candidate sees the same preprocessed frames as the active model, and a
frame with no spare time is dropped and counted, never queued. Each frame
both models ran on is matched (:func:`match_frame`: same label, IoU >= 0.5,
greedy by IoU) into a :class:`ShadowStats`, which merges across cameras and
is judged by a :class:`ShadowRule` into the contract's ``ShadowSummary``.

The rule (every part configurable): the candidate regresses when

- its inference p95 (with the loader's timed runs) exceeds the latency budget, when one is given;
- fewer than ``min_frames`` frames were compared (no evidence: it never fit the spare cycles, or no frames came);
- for a label of ``labels`` (default: person) that the active model found at least ``min_support`` times,
  the candidate found under ``min_recall`` of those detections (recall of the active's detections).
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from cloud_sync.contract.rollout import ShadowSummary

from .detections import Detection
from .model_runner import ModelRunner
from .postprocess import pairwise_iou
from .preprocess import LetterboxTransform

MATCH_IOU = 0.5
MAX_SAMPLES = 1000  # latency samples kept per model and camera (enough for a p95)
SPARE_MARGIN = 0.8  # the candidate must finish within this share of the time left before the next frame
_ESTIMATE_OF = 8  # the candidate's estimated step: the slowest of its last few


class ShadowFailed(RuntimeError):
    """The candidate did not load, or failed on a frame: it must not be switched in."""


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """How one frame's detections compare: matched pairs by label, and score deltas (candidate - active)."""

    active: Counter[str]
    candidate: Counter[str]
    matched: Counter[str]
    score_deltas: dict[str, float]  # label -> sum over its matched pairs

    @property
    def agrees(self) -> bool:
        """Every detection of either model has its match in the other's."""
        n = sum(self.matched.values())
        return n == sum(self.active.values()) == sum(self.candidate.values())


def match_frame(active: list[Detection], candidate: list[Detection], iou: float = MATCH_IOU) -> FrameMatch:
    """Greedy one-to-one matching by IoU within each label (the usual detection-eval matching)."""
    matched: Counter[str] = Counter()
    deltas: dict[str, float] = {}
    for label in {d.label for d in active} & {d.label for d in candidate}:
        a = [d for d in active if d.label == label]
        c = [d for d in candidate if d.label == label]
        overlap = pairwise_iou(np.array([d.box for d in a], np.float32), np.array([d.box for d in c], np.float32))
        pairs = np.argwhere(overlap >= iou)
        order = np.argsort(-overlap[pairs[:, 0], pairs[:, 1]], kind="stable")
        used_a: set[int] = set()
        used_c: set[int] = set()
        for i, j in pairs[order]:
            if i in used_a or j in used_c:
                continue
            used_a.add(int(i))
            used_c.add(int(j))
            matched[label] += 1
            deltas[label] = deltas.get(label, 0.0) + c[j].score - a[i].score
    return FrameMatch(Counter(d.label for d in active), Counter(d.label for d in candidate), matched, deltas)


def _p(samples: list[float], q: float) -> float | None:
    return float(np.percentile(samples, q)) if samples else None


@dataclass(slots=True)
class ShadowStats:
    """Totals of one shadow run on one camera (or merged over several); pickled from the worker."""

    frames: int = 0  # frames both models ran on
    agreed: int = 0
    active: Counter[str] = field(default_factory=Counter)  # detections by label
    candidate: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)  # active's detections the candidate found
    score_deltas: dict[str, float] = field(default_factory=dict)
    active_ms: list[float] = field(default_factory=list)
    candidate_ms: list[float] = field(default_factory=list)
    dropped: int = 0  # frames with no spare time for the candidate
    cameras: int = 1
    error: str | None = None

    def add(self, m: FrameMatch) -> None:
        self.frames += 1
        self.agreed += m.agrees
        self.active.update(m.active)
        self.candidate.update(m.candidate)
        self.matched.update(m.matched)
        for label, d in m.score_deltas.items():
            self.score_deltas[label] = self.score_deltas.get(label, 0.0) + d

    def merge(self, other: ShadowStats) -> ShadowStats:
        return ShadowStats(
            self.frames + other.frames, self.agreed + other.agreed, self.active + other.active,
            self.candidate + other.candidate, self.matched + other.matched,
            {k: self.score_deltas.get(k, 0.0) + other.score_deltas.get(k, 0.0)
             for k in self.score_deltas.keys() | other.score_deltas.keys()},
            self.active_ms + other.active_ms, self.candidate_ms + other.candidate_ms,
            self.dropped + other.dropped, self.cameras + other.cameras, self.error or other.error,
        )

    def recall(self, label: str) -> float | None:
        """Share of the active model's ``label`` detections the candidate found too."""
        n = self.active[label]
        return self.matched[label] / n if n else None

    def mean_score_delta(self, label: str) -> float | None:
        n = self.matched[label]
        return self.score_deltas.get(label, 0.0) / n if n else None


@dataclass(frozen=True, slots=True)
class ShadowRule:
    """When a candidate counts as worse than the active model (see the module docstring)."""

    labels: tuple[str, ...] = ("person",)
    min_recall: float = 0.8
    min_support: int = 5
    min_frames: int = 5
    latency_budget_ms: float | None = None

    def judge(self, stats: ShadowStats) -> str | None:
        """Why the candidate regresses, or None."""
        p95 = _p(stats.candidate_ms, 95)  # known from the loader's timed runs even when no frame was compared
        if self.latency_budget_ms is not None and p95 is not None and p95 > self.latency_budget_ms:
            return f"candidate inference p95 {p95:.1f} ms over the budget of {self.latency_budget_ms:g} ms"
        if stats.frames < self.min_frames:
            return (f"only {stats.frames} frames compared (at least {self.min_frames} needed; "
                    f"{stats.dropped} had no spare time for the candidate)")
        for label in self.labels:
            recall = stats.recall(label)
            if recall is not None and stats.active[label] >= self.min_support and recall < self.min_recall:
                return (f"candidate found {stats.matched[label]} of the active model's {stats.active[label]} "
                        f"{label} detections (recall {recall:.2f} < {self.min_recall:.2f})")
        return None

    def summary(self, stats: ShadowStats) -> ShadowSummary:
        return ShadowSummary(
            compared=stats.frames, agreement=stats.agreed / stats.frames if stats.frames else None,
            candidate_p95_ms=_p(stats.candidate_ms, 95), active_p95_ms=_p(stats.active_ms, 95),
            regression=self.judge(stats),
        )


class ShadowRun:
    """The candidate inside a worker: owned by the inference thread, fed active detections by the output thread."""

    def __init__(self, runner: ModelRunner, active: ModelRunner, duration_s: float, max_rate: float,
                 calibration_ms: list[float]) -> None:
        self.runner = runner
        self.stats = ShadowStats(candidate_ms=list(calibration_ms[-MAX_SAMPLES:]))
        self._same_input = (runner.manifest.preprocessing == active.manifest.preprocessing
                            and runner.manifest.inputs == active.manifest.inputs)
        self._deadline = time.monotonic() + duration_s
        self._min_interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self._next_run = 0.0
        self._steps: list[float] = [ms / 1e3 for ms in calibration_ms[-_ESTIMATE_OF:]]
        self._lock = threading.Lock()  # the pair below is written by two threads
        self._active: tuple[int, list[Detection]] | None = None
        self._candidate: tuple[int, list[Detection]] | None = None

    def expired(self) -> bool:
        return time.monotonic() >= self._deadline

    def fits(self, now: float, next_frame_at: float | None) -> bool:
        """Whether a candidate step ends before the active model's next frame is due (with a margin)."""
        if now < self._next_run:
            return False  # the rate cap: by design, not a drop
        estimate = max(self._steps, default=0.0)
        if next_frame_at is None or estimate > (next_frame_at - now) * SPARE_MARGIN:
            self.stats.dropped += 1
            return False
        return True

    def step(self, image: np.ndarray, frame_id: int, tensor: np.ndarray, transform: LetterboxTransform) -> None:
        """The candidate on one frame (the active model's tensor when both take the same input); raises on failure."""
        t0 = time.perf_counter()
        self._next_run = time.monotonic() + self._min_interval
        if not self._same_input:
            tensor, transform = self.runner.preprocessor(image)
        t1 = time.perf_counter()
        outputs = self.runner.infer_tensor(tensor)
        inference_ms = (time.perf_counter() - t1) * 1e3
        detections = self.runner.decode(outputs, transform)
        self._steps = (self._steps + [time.perf_counter() - t0])[-_ESTIMATE_OF:]
        if len(self.stats.candidate_ms) < MAX_SAMPLES:
            self.stats.candidate_ms.append(inference_ms)
        with self._lock:
            self._candidate = (frame_id, detections)
            self._compare()

    def offer_active(self, frame_id: int, detections: list[Detection], inference_ms: float) -> None:
        """The active model's result for a frame (from the output thread)."""
        with self._lock:
            if len(self.stats.active_ms) < MAX_SAMPLES:
                self.stats.active_ms.append(inference_ms)
            self._active = (frame_id, detections)
            self._compare()

    def _compare(self) -> None:
        if self._active is not None and self._candidate is not None and self._active[0] == self._candidate[0]:
            self.stats.add(match_frame(self._active[1], self._candidate[1]))
            self._active = self._candidate = None

    def finish(self, error: str | None = None) -> ShadowStats:
        """The totals (with ``error`` when the candidate failed); releases the candidate's runtime."""
        with self._lock:
            stats = self.stats
            stats.error = error
        self.runner.close()
        return stats

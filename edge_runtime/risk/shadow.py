"""Judging a candidate risk model in the active one's shadow: the same windows, both models, one verdict.

The rule (docs/rollout.md): a candidate is a regression when, on the alarms
supervisors have judged here, it flags fewer of the confirmed ones than the
active model by more than ``recall_margin`` (with at least ``min_confirmed``
of them, else the verdicts are too few to tell), or when its p95 scoring
time is over the latency budget. Agreement (both on the same side of their
thresholds) is reported, not judged: a better model is expected to differ.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloud_sync.contract.rollout import ShadowSummary


@dataclass(frozen=True, slots=True)
class ShadowRule:
    min_confirmed: int = 5
    recall_margin: float = 0.1


@dataclass(slots=True)
class Side:
    """One model's scores on the shadow's windows, its threshold and its scoring times (ms)."""

    threshold: float
    scores: list[float]
    times_ms: list[float]

    def p95(self) -> float | None:
        return float(np.percentile(self.times_ms, 95)) if self.times_ms else None


def recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    confirmed = labels == 1
    return float(np.mean(scores[confirmed] >= threshold)) if confirmed.any() else float("nan")


@dataclass(frozen=True, slots=True)
class Judged:
    """Both models' scores on the alarms supervisors judged here (1 confirmed, 0 false alarm)."""

    candidate: np.ndarray
    active: np.ndarray
    labels: np.ndarray


def judge(candidate: Side, active: Side | None, judged: Judged | None, budget_ms: float | None,
          rule: ShadowRule) -> ShadowSummary:
    """The shadow run's summary, with ``regression`` set by the rule of the module docstring."""
    compared = len(candidate.scores)
    agreement = None
    if active is not None and compared and len(active.scores) == compared:
        a = np.asarray(active.scores) >= active.threshold
        c = np.asarray(candidate.scores) >= candidate.threshold
        agreement = float(np.mean(a == c))
    regression = None
    cand_p95 = candidate.p95()
    if judged is not None and active is not None:
        confirmed = int(np.sum(judged.labels == 1))
        if confirmed >= rule.min_confirmed:
            mine = recall(judged.candidate, judged.labels, candidate.threshold)
            theirs = recall(judged.active, judged.labels, active.threshold)
            if mine < theirs - rule.recall_margin:
                regression = (f"flags {mine:.0%} of {confirmed} confirmed alarms here, the active model "
                              f"{theirs:.0%} (margin {rule.recall_margin:.0%})")
    if regression is None and budget_ms is not None and cand_p95 is not None and cand_p95 > budget_ms:
        regression = f"scoring p95 {cand_p95:.1f} ms is over the budget of {budget_ms:g} ms"
    return ShadowSummary(compared=compared, agreement=agreement, candidate_p95_ms=cand_p95,
                         active_p95_ms=active.p95() if active is not None else None, regression=regression)

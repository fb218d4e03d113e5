"""Candidate algorithms scored by stratified k-fold cross-validation, safety first.

Every fold's decision threshold is chosen on its *training* folds only, from
out-of-fold probabilities of an inner cross-validation there (in-sample
probabilities of a forest are near 0 or 1 and would give a threshold far too
high): the highest threshold that keeps recall on confirmed alarms at or
above ``recall_floor + recall_margin``. The margin absorbs the spread from
one fold to the next, so the recall measured on the held-out fold, the
number that decides whether a candidate meets the floor, stays above it for a
model that generalises. Precision follows from that threshold; the
threshold-free numbers (ROC AUC, average precision, Brier score) are what
candidates are compared by.

All metrics are computed on the pooled held-out predictions of all folds (each
row scored by the model that did not see it). ``threshold`` is the one to ship
with a model trained on all rows, chosen the same way from those pooled
probabilities.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .examples import Examples
from .pipeline import ALGORITHMS, Algorithm, PipelineOptions, fit_pipeline

RECALL_FLOOR = 0.95
"""Recall on confirmed alarms a candidate must keep on held-out data (safety first)."""
RECALL_MARGIN = 0.02
"""Added to the floor when a threshold is chosen on training data."""
INNER_FOLDS = 3

Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One algorithm's cross-validated numbers (pooled held-out predictions)."""

    algorithm: Algorithm
    roc_auc: float
    average_precision: float
    recall: float  # on confirmed alarms, at each fold's training-chosen threshold
    precision: float
    f1: float
    brier: float
    fit_s_per_100k: float  # seconds to fit on 100,000 rows, scaled from the folds' fits
    threshold: float  # for the model fitted on all rows
    recall_floor: float
    folds: int
    rows: int

    @property
    def meets_recall_floor(self) -> bool:
        return self.recall >= self.recall_floor


def choose_threshold(y: np.ndarray, probability: np.ndarray, recall: float) -> float:
    """The highest threshold whose decisions ``probability >= threshold`` keep ``recall`` on class 1."""
    positives = np.sort(np.asarray(probability, dtype=np.float64)[np.asarray(y) == 1])[::-1]
    if not positives.size:
        raise ValueError("no positive example to choose a threshold on")
    needed = min(positives.size, max(1, math.ceil(recall * positives.size - 1e-9)))
    return float(positives[needed - 1])


def cross_validate_candidates(
    examples: Examples,
    options: PipelineOptions,
    algorithms: Sequence[Algorithm],
    folds: int,
    seed: int,
    progress: Progress | None = None,
    *,
    recall_floor: float = RECALL_FLOOR,
    recall_margin: float = RECALL_MARGIN,
) -> list[CandidateScore]:
    """Score each algorithm by stratified ``folds``-fold cross-validation; ``progress`` gets 0..1."""
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise ValueError(f"unknown algorithms {unknown}; choose from {list(ALGORITHMS)}")
    if not 0.0 < recall_floor <= 1.0 or recall_margin < 0.0:
        raise ValueError(f"recall floor must be in (0, 1] and the margin >= 0, got {recall_floor}, {recall_margin}")
    X, y = examples.X, examples.y
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    if folds < 2 or minority < folds * INNER_FOLDS:
        raise ValueError(f"{folds}-fold cross-validation with {INNER_FOLDS} inner folds needs >= 2 folds and "
                         f">= {max(folds, 2) * INNER_FOLDS} examples of each class, got {minority} of the rarer one")
    target = min(1.0, recall_floor + recall_margin)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
    total = len(algorithms) * len(splits)
    scores = []
    for a, algorithm in enumerate(algorithms):
        probability = np.empty(len(y), dtype=np.float64)
        decision = np.empty(len(y), dtype=bool)
        fit_s = rows_fitted = 0.0
        for f, (train, test) in enumerate(splits):
            threshold = choose_threshold(y[train], _out_of_fold(X[train], y[train], options, algorithm, seed), target)
            start = time.perf_counter()
            model = fit_pipeline(options, algorithm, seed, X[train], y[train])
            fit_s += time.perf_counter() - start
            rows_fitted += len(train)
            probability[test] = model.predict_proba(X[test])[:, 1]
            decision[test] = probability[test] >= threshold
            if progress is not None:
                progress((a * len(splits) + f + 1) / total)
        scores.append(_score(algorithm, y, probability, decision, fit_s / rows_fitted * 1e5,
                             choose_threshold(y, probability, target), recall_floor, folds))
    return scores


def _out_of_fold(X: np.ndarray, y: np.ndarray, options: PipelineOptions, algorithm: Algorithm, seed: int) -> np.ndarray:
    probability = np.empty(len(y), dtype=np.float64)
    for train, test in StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed + 1).split(X, y):
        probability[test] = fit_pipeline(options, algorithm, seed, X[train], y[train]).predict_proba(X[test])[:, 1]
    return probability


def _score(algorithm: Algorithm, y: np.ndarray, probability: np.ndarray, decision: np.ndarray,
           fit_s_per_100k: float, threshold: float, recall_floor: float, folds: int) -> CandidateScore:
    positive = y == 1
    caught = int(np.sum(decision & positive))
    flagged = int(np.sum(decision))
    recall = caught / int(np.sum(positive))
    precision = caught / flagged if flagged else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return CandidateScore(
        algorithm=algorithm,
        roc_auc=float(roc_auc_score(y, probability)),
        average_precision=float(average_precision_score(y, probability)),
        recall=recall,
        precision=precision,
        f1=f1,
        brier=float(brier_score_loss(y, probability)),
        fit_s_per_100k=fit_s_per_100k,
        threshold=threshold,
        recall_floor=recall_floor,
        folds=folds,
        rows=len(y),
    )

"""The model-validation gate: a candidate ships only if it is no worse than the champion.

On a held-out split the candidate and the champion are compared overall and
per segment (site, device type, gas, night/day, alarm kind; a segment counts
when it has ``min_segment`` examples or more, both classes among them). The
candidate is rejected when

- its average precision is below the champion's by more than ``tolerance``,
  overall or in any counted segment;
- its recall on confirmed alarms is below the champion's for *any* alarm kind,
  however few such alarms the split holds: no tolerance, because a learned
  model must never make the site catch fewer real alarms (DOMAIN.md);
- its overall recall on confirmed alarms is *clearly* under the recall floor:
  even the upper end of its one-sided 90 % Wilson interval is below the floor
  (this is all that is checked when there is no champion yet). A held-out
  split of a dozen confirmed alarms cannot tell 12/13 from a true 0.95, and
  a gate that flips on one alarm would refuse good models at random; the
  comparison with the champion above stays exact.

Each model comes as a function from float32 feature rows to probabilities
(a fitted pipeline's ``predict_proba(X)[:, 1]``, or an exported artifact run
through its runtime) and its own decision threshold, so the champion can be
the very package the devices run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .candidates import RECALL_FLOOR
from .examples import Examples

FLOOR_Z = 1.2816  # one-sided 90 %

ScoresFn = Callable[[np.ndarray], np.ndarray]
"""float32 rows [n, len(FEATURES)] -> probability of a confirmed alarm / rising risk, [n]."""
_NONE = "(none)"  # how a segment's empty value (no gas, a risk-rising negative) is named


@dataclass(frozen=True, slots=True)
class SegmentResult:
    segment: str  # site | device_type | gas | time_of_day | kind
    value: str
    n: int
    positives: int
    counted: bool  # enough examples of both classes for average precision to be compared
    candidate_average_precision: float | None
    champion_average_precision: float | None
    candidate_recall: float | None  # None where the segment has no confirmed alarm
    champion_recall: float | None
    passed: bool


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]
    overall: dict[str, dict[str, float]]  # "candidate" / "champion" -> metric -> value
    segments: list[SegmentResult]


def validate_candidate(
    candidate_scores_fn: ScoresFn,
    champion_scores_fn: ScoresFn | None,
    holdout: Examples,
    min_segment: int = 30,
    tolerance: float = 0.02,
    *,
    candidate_threshold: float,
    champion_threshold: float | None = None,
    recall_floor: float = RECALL_FLOOR,
) -> GateResult:
    """Compare candidate and champion on ``holdout``; see the module docstring for the rules."""
    if champion_scores_fn is not None and champion_threshold is None:
        raise ValueError("a champion needs its decision threshold (champion_threshold)")
    if min_segment < 1 or tolerance < 0.0:
        raise ValueError(f"min_segment must be >= 1 and tolerance >= 0, got {min_segment}, {tolerance}")
    y = np.asarray(holdout.y)
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError("the held-out split needs confirmed and false alarms (both classes)")
    candidate = _Scored(_probabilities(candidate_scores_fn, holdout, "candidate"), candidate_threshold)
    champion = None
    if champion_scores_fn is not None and champion_threshold is not None:
        champion = _Scored(_probabilities(champion_scores_fn, holdout, "champion"), champion_threshold)
    everything = np.ones(len(y), dtype=bool)
    overall = {"candidate": candidate.metrics(y, everything)}
    reasons = []
    positives = int(np.sum(y == 1))
    caught = round(overall["candidate"]["recall"] * positives)
    if wilson_upper(caught, positives) < recall_floor:
        reasons.append(f"overall: recall on confirmed alarms {overall['candidate']['recall']:.3f} is under the floor "
                       f"{recall_floor:.2f} ({_caught(candidate, y, everything)}; at most "
                       f"{wilson_upper(caught, positives):.3f} at 90 % confidence)")
    if champion is not None:
        overall["champion"] = champion.metrics(y, everything)
        reasons += _ap_reason("overall", overall["candidate"], overall["champion"], tolerance)
    segments = []
    for name, values in holdout.segments().items():
        for value in sorted(set(values.tolist())):
            result, why = _segment(name, value, values == value, y, candidate, champion, min_segment, tolerance)
            segments.append(result)
            reasons += why
    return GateResult(not reasons, reasons, overall, segments)


def wilson_upper(successes: int, trials: int, z: float = FLOOR_Z) -> float:
    """The upper end of the Wilson score interval of ``successes / trials`` (1.0 for no trials)."""
    if trials <= 0:
        return 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float(min(1.0, (centre + spread) / (1 + z * z / trials)))


@dataclass(frozen=True, slots=True)
class _Scored:
    probability: np.ndarray
    threshold: float

    def metrics(self, y: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        labels, p = y[mask], self.probability[mask]
        decision = p >= self.threshold
        positives = int(np.sum(labels == 1))
        flagged = int(np.sum(decision))
        caught = int(np.sum(decision & (labels == 1)))
        both = 0 < positives < labels.size
        return {
            "n": float(labels.size),
            "positives": float(positives),
            "average_precision": float(average_precision_score(labels, p)) if both else float("nan"),
            "roc_auc": float(roc_auc_score(labels, p)) if both else float("nan"),
            "recall": caught / positives if positives else float("nan"),
            "precision": caught / flagged if flagged else float("nan"),
            "brier": float(np.mean((p - labels) ** 2)) if labels.size else float("nan"),
        }


def _probabilities(fn: ScoresFn, holdout: Examples, name: str) -> np.ndarray:
    p = np.asarray(fn(np.asarray(holdout.X, dtype=np.float32)), dtype=np.float64).reshape(-1)
    if p.size != len(holdout):
        raise ValueError(f"the {name} gave {p.size} scores for {len(holdout)} rows")
    if not np.isfinite(p).all() or (p < 0.0).any() or (p > 1.0).any():
        raise ValueError(f"the {name} gave scores outside [0, 1] or NaN")
    return p


def _caught(scored: _Scored, y: np.ndarray, mask: np.ndarray) -> str:
    positive = mask & (y == 1)
    return f"{int(np.sum(scored.probability[positive] >= scored.threshold))}/{int(np.sum(positive))} caught"


def _ap_reason(where: str, candidate: dict[str, float], champion: dict[str, float], tolerance: float) -> list[str]:
    if candidate["average_precision"] < champion["average_precision"] - tolerance:
        return [f"{where}: average precision {candidate['average_precision']:.3f} is below the champion's "
                f"{champion['average_precision']:.3f} by more than {tolerance:g} (n={int(candidate['n'])})"]
    return []


def _segment(name: str, value: str, mask: np.ndarray, y: np.ndarray, candidate: _Scored, champion: _Scored | None,
             min_segment: int, tolerance: float) -> tuple[SegmentResult, list[str]]:
    label = f"{name}={value or _NONE}"
    ours = candidate.metrics(y, mask)
    theirs = None if champion is None else champion.metrics(y, mask)
    counted = ours["n"] >= min_segment and 0 < ours["positives"] < ours["n"]
    reasons = _ap_reason(label, ours, theirs, tolerance) if counted and theirs is not None else []
    if name == "kind" and champion is not None and theirs is not None and ours["positives"] \
            and ours["recall"] < theirs["recall"]:
        reasons.append(f"{label}: recall on confirmed alarms {ours['recall']:.3f} ({_caught(candidate, y, mask)}) "
                       f"is below the champion's {theirs['recall']:.3f} ({_caught(champion, y, mask)})"
                       " (no tolerance: a model must never catch fewer real alarms of a kind)")
    result = SegmentResult(
        segment=name, value=value or _NONE, n=int(ours["n"]), positives=int(ours["positives"]), counted=counted,
        candidate_average_precision=_known(ours["average_precision"]),
        champion_average_precision=None if theirs is None else _known(theirs["average_precision"]),
        candidate_recall=_known(ours["recall"]),
        champion_recall=None if theirs is None else _known(theirs["recall"]),
        passed=not reasons,
    )
    return result, reasons


def _known(value: float) -> float | None:
    return None if np.isnan(value) else value

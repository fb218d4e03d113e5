"""Which candidate to ship to each target profile: accuracy against what it costs there.

Per profile, among the candidates that meet the recall floor and were
measured on that profile, each gets a normalised score in 0..1:

- accuracy = its average precision / the best one's (so a 2 % worse model
  scores 0.98, not 0: min-max scaling would turn any difference into all
  or nothing);
- cost = the mean of (cheapest p99 latency / its p99 latency) and (smallest
  memory / its memory): the cheapest scores 1, one twice as slow and twice
  as big 0.5;
- score = (accuracy weight x accuracy + cost weight x cost) / (sum of the weights).

A candidate under the recall floor is never recommended, whatever it costs;
one with no measured cost on a profile (its export or load test failed
there) is not recommended for that profile. Both are listed as excluded, with why.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .candidates import CandidateScore


@dataclass(frozen=True, slots=True)
class MeasuredCost:
    """What one fitted model costs on one target profile (filled by the export/cost module)."""

    latency_p99_ms: float
    memory_mb: float

    def __post_init__(self) -> None:
        for name in ("latency_p99_ms", "memory_mb"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"MeasuredCost.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Weights:
    """How much accuracy and cost count (e.g. 0.8 / 0.2); only their ratio matters."""

    accuracy: float = 0.8
    cost: float = 0.2

    def __post_init__(self) -> None:
        if self.accuracy < 0.0 or self.cost < 0.0 or self.accuracy + self.cost <= 0.0:
            raise ValueError(f"weights must be >= 0 and not both 0, got accuracy {self.accuracy}, cost {self.cost}")


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate's normalised score on one profile and the numbers behind it."""

    algorithm: str
    score: float
    accuracy_score: float
    cost_score: float
    average_precision: float
    recall: float
    latency_p99_ms: float
    memory_mb: float


@dataclass(frozen=True)
class ProfileRecommendation:
    profile: str
    winner: Ranked | None
    why: str
    runners_up: tuple[Ranked, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)  # algorithm -> why it was not considered


@dataclass(frozen=True)
class Recommendation:
    weights: Weights
    profiles: Mapping[str, ProfileRecommendation]

    def winner(self, profile: str) -> str | None:
        """The recommended algorithm for ``profile`` (None when no candidate qualifies)."""
        choice = self.profiles[profile].winner
        return None if choice is None else choice.algorithm


def recommend(scores: Sequence[CandidateScore], costs: Mapping[str, Mapping[str, MeasuredCost]],
              weights: Weights) -> Recommendation:
    """Per profile in ``costs`` (profile -> algorithm -> cost), the winner, why, and the runners-up."""
    names = [s.algorithm for s in scores]
    if len(set(names)) != len(names):
        raise ValueError(f"one score per algorithm, got {names}")
    return Recommendation(weights, {profile: _profile(profile, scores, measured, weights)
                                    for profile, measured in costs.items()})


def _profile(profile: str, scores: Sequence[CandidateScore], measured: Mapping[str, MeasuredCost],
             weights: Weights) -> ProfileRecommendation:
    excluded: dict[str, str] = {}
    eligible: list[tuple[CandidateScore, MeasuredCost]] = []
    for s in scores:
        if not s.meets_recall_floor:
            excluded[s.algorithm] = (f"recall on confirmed alarms {s.recall:.3f} is under the floor "
                                     f"{s.recall_floor:.2f}")
        elif s.algorithm not in measured:
            excluded[s.algorithm] = f"no measured cost on {profile} (not exported or not compatible there)"
        else:
            eligible.append((s, measured[s.algorithm]))
    if not eligible:
        return ProfileRecommendation(profile, None, f"no candidate qualifies on {profile}: "
                                     + "; ".join(f"{a}: {why}" for a, why in excluded.items()), (), excluded)
    best_ap = max(s.average_precision for s, _ in eligible)
    least_ms = min(c.latency_p99_ms for _, c in eligible)
    least_mb = min(c.memory_mb for _, c in eligible)
    total = weights.accuracy + weights.cost
    ranked = []
    for s, c in eligible:
        accuracy = s.average_precision / best_ap if best_ap > 0.0 else 1.0
        cost = (least_ms / c.latency_p99_ms + least_mb / c.memory_mb) / 2.0
        score = (weights.accuracy * accuracy + weights.cost * cost) / total
        ranked.append(Ranked(s.algorithm, score, accuracy, cost, s.average_precision, s.recall,
                             c.latency_p99_ms, c.memory_mb))
    ranked.sort(key=lambda r: (-r.score, -r.average_precision, r.algorithm))
    winner, rest = ranked[0], tuple(ranked[1:])
    return ProfileRecommendation(profile, winner, _why(profile, winner, rest, weights, best_ap, least_ms, least_mb),
                                 rest, excluded)


def _why(profile: str, winner: Ranked, rest: tuple[Ranked, ...], weights: Weights,
         best_ap: float, least_ms: float, least_mb: float) -> str:
    text = (
        f"{winner.algorithm} wins on {profile} with score {winner.score:.3f} "
        f"(accuracy {winner.accuracy_score:.3f} x {weights.accuracy:g}, "
        f"cost {winner.cost_score:.3f} x {weights.cost:g}): "
        f"average precision {winner.average_precision:.3f} (best {best_ap:.3f}), "
        f"recall {winner.recall:.3f}, p99 latency {winner.latency_p99_ms:.3g} ms (cheapest {least_ms:.3g} ms), "
        f"memory {winner.memory_mb:.3g} MB (smallest {least_mb:.3g} MB)"
    )
    if not rest:
        return text + "; the only candidate that qualifies"
    runner = rest[0]
    return text + (
        f"; ahead of {runner.algorithm} ({runner.score:.3f}: average precision {runner.average_precision:.3f}, "
        f"p99 {runner.latency_p99_ms:.3g} ms, {runner.memory_mb:.3g} MB) by {winner.score - runner.score:.3f}"
    )

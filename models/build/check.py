"""The rule a compiled artifact passes before it ships: it must still be the model that was gated.

Two checks on the held-out set, both against the float model the artifact
came from:

- its outputs stay within the family's tolerance for its precision (the
  family says how it measures: scores for the risk model, boxes and scores
  of detections for the camera detector);
- its own accuracy: recall (on confirmed alarms for the risk model; overall
  and for every class for a detector) no more than ``margin`` below the float
  model's. Compilation is where accuracy is lost unseen (int8 calibration,
  a TensorRT tactic, a converter bug); the gate that passed the float model
  says nothing about the file a device runs.

The numbers go into the manifest as an :class:`~models.package.ArtifactCheck`
whether the artifact passes or not, so a refusal is explained by the same
figures a pass is recorded with.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.package import ArtifactCheck

DEFAULT_MARGIN = 0.02
"""Recall an artifact may lose against its float model (overall and per class) unless a pipeline sets another."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one model (the float reference or an artifact) scored on the held-out set."""

    recall: float
    recall_by_class: Mapping[str, float] = field(default_factory=dict)


def check(label: str, measured: Evaluation, reference: Evaluation, deviation: float, deviation_problem: str | None,
          margin: float) -> tuple[ArtifactCheck, str | None]:
    """The artifact's numbers, and why it is refused (None: it ships)."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin {margin} must be in [0, 1)")
    numbers = ArtifactCheck(
        recall=round(measured.recall, 4), recall_by_class={k: round(v, 4) for k, v in measured.recall_by_class.items()},
        reference_recall=round(reference.recall, 4), max_deviation=_finite(deviation), margin=margin)
    reasons = [] if deviation_problem is None else [f"outputs: {deviation_problem}"]
    if _lost(measured.recall, reference.recall, margin):
        reasons.append(f"recall {measured.recall:.3f} < float model's {reference.recall:.3f} - margin {margin:.3f}")
    for name, ref in sorted(reference.recall_by_class.items()):
        got = measured.recall_by_class.get(name, 0.0)
        if _lost(got, ref, margin):
            reasons.append(f"recall of {name} {got:.3f} < float model's {ref:.3f} - margin {margin:.3f}")
    return numbers, (f"{label}: " + "; ".join(reasons)) if reasons else None


def _lost(got: float, reference: float, margin: float) -> bool:
    return not math.isfinite(got) or got < reference - margin - 1e-9  # 1e-9: a recall equal to the bound passes


def _finite(value: float) -> float:
    """The manifest holds JSON numbers: a non-finite deviation (NaN scores) is recorded as the largest float."""
    return float(value) if math.isfinite(value) else 1.7976931348623157e308

"""Held-out accuracy: mAP@0.5 per class and mean, and precision / recall at the shipped threshold.

Pure bookkeeping over detections in frame pixels; what produced them (an
exported artifact run through the runtime path) is the caller's business.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.vision.detections import Detection

from .scene import Box

IOU_MATCH = 0.5


@dataclass(frozen=True, slots=True)
class Scores:
    """Accuracy of one artifact on one split."""

    ap50: dict[str, float]  # per label; NaN where the split has no such object
    map50: float  # mean over labels present in the split
    precision: float  # at the confidence threshold, all labels together
    recall: float
    images: int
    objects: int
    recall_by_label: dict[str, float] = field(default_factory=dict)  # at the threshold; labels the split has

    def as_metrics(self, suffix: str) -> dict[str, float]:
        """Flat manifest metrics, e.g. ``map50_int8``, ``ap50_no_helmet_int8``, ``precision_int8``."""
        out = {f"map50_{suffix}": self.map50, f"precision_{suffix}": self.precision, f"recall_{suffix}": self.recall}
        out.update({f"ap50_{label}_{suffix}": ap for label, ap in self.ap50.items() if not np.isnan(ap)})
        return {k: round(float(v), 4) for k, v in out.items()}


def detect_all(detect: Callable[[np.ndarray], list[Detection]], frames: Sequence[np.ndarray]) -> list[list[Detection]]:
    """Run ``detect`` on every frame; it should keep low-confidence detections (mAP integrates over thresholds)."""
    return [detect(frame) for frame in frames]


def operating_threshold(
    found: Sequence[Sequence[Detection]], truth: Sequence[Sequence[Box]], labels: Sequence[str],
    candidates: Sequence[float] = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2)),
) -> tuple[float, float]:
    """The confidence threshold with the best F1 (precision and recall together) and that F1.

    Chosen on the validation split, so the held-out test split still measures
    the shipped threshold honestly.
    """
    def f1(threshold: float) -> float:
        s = score(found, truth, labels, threshold)
        return 2 * s.precision * s.recall / (s.precision + s.recall) if s.precision + s.recall else 0.0

    best = max(candidates, key=f1)
    return float(best), f1(best)


def score(
    found: Sequence[Sequence[Detection]], truth: Sequence[Sequence[Box]], labels: Sequence[str], conf_threshold: float
) -> Scores:
    """Greedy matching by descending score per label (VOC style), all-point interpolated AP."""
    ap: dict[str, float] = {}
    recall_by_label: dict[str, float] = {}
    tp_at, det_at, objects = 0, 0, 0
    for label in labels:
        gts = [np.array([b.as_tuple() for b in boxes if b.label == label], np.float32).reshape(-1, 4)
               for boxes in truth]
        n_gt = sum(len(g) for g in gts)
        dets = sorted(
            ((d.score, i, d.box) for i, frame in enumerate(found) for d in frame if d.label == label),
            key=lambda t: -t[0],
        )
        used = [np.zeros(len(g), bool) for g in gts]
        hits = np.zeros(len(dets), bool)
        for k, (_, i, box) in enumerate(dets):
            if len(gts[i]) == 0:
                continue
            iou = _iou(np.asarray(box, np.float32), gts[i])
            iou[used[i]] = -1.0
            j = int(np.argmax(iou))
            if iou[j] >= IOU_MATCH:
                used[i][j] = hits[k] = True
        scores = np.array([s for s, _, _ in dets], np.float32)
        ap[label] = _average_precision(hits, n_gt) if n_gt else float("nan")
        confident = scores >= conf_threshold
        if n_gt:
            recall_by_label[label] = int(hits[confident].sum()) / n_gt
        tp_at += int(hits[confident].sum())
        det_at += int(confident.sum())
        objects += n_gt
    present = [v for v in ap.values() if not np.isnan(v)]
    return Scores(
        ap50=ap,
        map50=float(np.mean(present)) if present else 0.0,
        precision=tp_at / det_at if det_at else 0.0,
        recall=tp_at / objects if objects else 0.0,
        images=len(truth),
        objects=objects,
        recall_by_label=recall_by_label,
    )


def _average_precision(hits: np.ndarray, n_gt: int) -> float:
    """Area under the precision envelope of the ranked detections (VOC 2010+ all-point)."""
    if len(hits) == 0:
        return 0.0
    tp = np.cumsum(hits)
    recall = np.concatenate([[0.0], tp / n_gt, [tp[-1] / n_gt]])
    precision = np.concatenate([[1.0], tp / np.arange(1, len(hits) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(area, 1e-9)

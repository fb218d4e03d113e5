"""The risk model as a :class:`models.build.builder.Family`: its exporters and its held-out check.

Accuracy is recall on confirmed alarms (label 1) at the pipeline's decision
threshold: the number the gate guards (DOMAIN.md: a learned model must never
make the site catch fewer real alarms). Output tolerance is the packaging's
agreement rule for float artifacts (:mod:`.agreement`: a few rows may cross
a tree threshold, no more) and :data:`INT8_TOLERANCE` for int8 ones, whose
scores move by the quantisation step. Jetsons run the risk model's ONNX on
their CPU (``targets.py``): no TensorRT engine is built for it, and the
TensorRT ONNX parser has no ``ai.onnx.ml`` tree operators anyway.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.pipeline import Pipeline

from models.build.builder import BuildFailed, Exported, Format, Measured
from models.build.check import Evaluation
from models.build.targets import Precision

from .agreement import disagreement
from .artifact_runtime import ArtifactLoadError, ScoringError, open_artifact
from .export import export_onnx, export_tflite
from .export_spec import ExportError

FILES = {("onnx", "fp32"): "risk.onnx", ("tflite", "fp32"): "risk.tflite", ("tflite", "int8"): "risk_int8.tflite"}
INT8_TOLERANCE = 0.05
"""Largest score difference an int8 artifact may show against the float pipeline."""
CALIBRATION_ROWS = 500
"""Training rows the int8 calibration runs over: ranges settle long before, and the converter is slow per row."""


class RiskFamily:
    """One fitted pipeline, its held-out rows and labels, its threshold, and training rows for int8."""

    engines = False

    def __init__(self, pipeline: Pipeline, n_features: int, holdout: tuple[np.ndarray, np.ndarray], threshold: float,
                 calibration: np.ndarray | None) -> None:
        self.pipeline, self.n_features, self.threshold = pipeline, n_features, threshold
        self.x = np.asarray(holdout[0], np.float32)
        self.y = np.asarray(holdout[1])
        self.calibration = None if calibration is None else np.asarray(calibration, np.float32)[:CALIBRATION_ROWS]
        self.scores = pipeline.predict_proba(self.x)[:, 1]

    def filename(self, fmt: Format, precision: Precision) -> str:
        return FILES[(fmt, precision)]

    def export(self, fmt: Literal["onnx", "tflite"], precision: Precision, path: Path) -> Exported:
        try:
            if fmt == "onnx":
                return Exported(export_onnx(self.pipeline, self.n_features, path))
            if precision == "int8" and self.calibration is None:
                raise BuildFailed("int8 needs calibration rows from the training data")
            rows = self.calibration if precision == "int8" else None
            return Exported(export_tflite(self.pipeline, self.n_features, path, rows))
        except ExportError as exc:
            raise BuildFailed(str(exc)) from None

    def reference(self) -> Evaluation:
        return Evaluation(self.recall(self.scores))

    def recall(self, scores: np.ndarray) -> float:
        """Share of the confirmed alarms scored at or over the threshold."""
        positive = self.y == 1
        return float(np.mean(scores[positive] >= self.threshold)) if positive.any() else 1.0

    def measure(self, path: Path, fmt: Format, precision: Precision, target: str) -> Measured:
        try:
            scores = np.asarray(open_artifact(path, fmt)(self.x), np.float64)  # type: ignore[arg-type]
        except (ArtifactLoadError, ScoringError) as exc:
            raise BuildFailed(str(exc)) from None
        off = np.abs(scores - self.scores)
        deviation = float(off.max()) if off.size else 0.0
        if precision == "int8":
            problem = (f"scores differ by up to {deviation:.3g} (int8 allows {INT8_TOLERANCE:g})"
                       if not deviation <= INT8_TOLERANCE else None)
        else:
            problem = disagreement(scores, self.scores)
        return Measured(Evaluation(self.recall(scores)), deviation, problem)

    def engine_input(self) -> tuple[tuple[int, ...], np.ndarray]:
        raise BuildFailed("the risk model runs ONNX on a Jetson's CPU; it has no TensorRT engine")

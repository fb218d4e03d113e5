"""One risk model package, verified and loaded in the runtime this device has: rows of features -> scores.

TFLite (LiteRT) where it is installed and the package has a TFLite artifact
(the Raspberry Pi build), else ONNX. The load refuses what cannot serve
before the running model is touched: a package that does not verify, an
artifact whose input is not the manifest's feature count, or one whose
warm-up score is not a finite probability.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.package import Artifact, Manifest, ModelPackage, PackageError, load_package
from models.risk.artifact_runtime import ArtifactLoadError, Scorer, ScoringError, interpreter_class, open_artifact
from models.risk.features import FEATURES

DEFAULT_THRESHOLD = 0.5
"""A score at or above this flags an alarm as likely real, unless the manifest's metrics say ``threshold``."""


class RiskModelError(RuntimeError):
    """The package cannot serve as the risk model here; the reason says why."""


@dataclass(frozen=True, slots=True)
class RiskModel:
    package: ModelPackage
    artifact: Artifact
    scorer: Scorer
    threshold: float
    columns: np.ndarray  # positions in models.risk.features.FEATURES of the manifest's features, in its order

    @classmethod
    def load(cls, path: Path, *, trusted_keys: dict[str, bytes] | None, require_signature: bool = True,
             threads: int = 1) -> RiskModel:
        try:
            package = load_package(path, trusted_keys=trusted_keys, require_signature=require_signature)
        except PackageError as exc:
            raise RiskModelError(str(exc)) from None
        manifest = package.manifest
        if problem := input_mismatch(manifest):
            raise RiskModelError(problem)
        artifact = _artifact(package)
        try:
            scorer = open_artifact(package.path_of(artifact), artifact.format, threads=threads)  # type: ignore[arg-type]
        except ArtifactLoadError as exc:
            raise RiskModelError(str(exc)) from None
        n = len(manifest.features)
        if scorer.signature.input.shape[-1] not in (n, -1):
            raise RiskModelError(f"{artifact.path} takes {scorer.signature.input.shape[-1]} features; "
                                 f"the manifest lists {n}")
        columns = np.array([FEATURES.index(f) for f in manifest.features], dtype=np.intp)
        model = cls(package, artifact, scorer, float(manifest.metrics.get("threshold", DEFAULT_THRESHOLD)), columns)
        model.score(np.full((1, n), np.nan, np.float32))  # warm-up: allocates, and proves the output is sane
        return model

    @property
    def lineage(self) -> dict[str, str]:
        """What every scored alarm carries."""
        m = self.package.manifest
        return {"name": m.name, "version": m.version, "sha256": self.artifact.sha256}

    def rows(self, features: np.ndarray) -> np.ndarray:
        """This model's input rows from full :data:`FEATURES` rows (``[n, len(FEATURES)]``)."""
        return np.ascontiguousarray(np.atleast_2d(features)[:, self.columns], np.float32)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Scores in [0, 1], one per row; RiskModelError when the runtime fails or answers nonsense."""
        try:
            scores = np.asarray(self.scorer(rows), np.float64).reshape(-1)
        except ScoringError as exc:
            raise RiskModelError(str(exc)) from None
        if len(scores) != len(rows) or not np.all(np.isfinite(scores)) or np.any((scores < 0) | (scores > 1)):
            raise RiskModelError(f"{self.artifact.path} gave {len(scores)} scores for {len(rows)} rows, "
                                 "not all probabilities")
        return scores

    def timed_score(self, rows: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        scores = self.score(rows)
        return scores, (time.perf_counter() - t0) * 1e3


def input_mismatch(manifest: Manifest) -> str | None:
    """Why this edge cannot feed the model (not a risk model, features it does not compute), or None."""
    what = f"{manifest.name}@{manifest.version}"
    if manifest.task != "risk":
        return f"{what} is a {manifest.task} model, not a risk model"
    unknown = [f for f in manifest.features if f not in FEATURES]
    if unknown or not manifest.features:
        return f"{what} wants features this edge does not compute: {', '.join(unknown) or 'none listed'}"
    shape = manifest.inputs[0].shape if len(manifest.inputs) == 1 else ()
    if len(shape) != 2 or shape[1] not in (len(manifest.features), -1):
        return f"{what} takes input {list(shape)}; one row of its {len(manifest.features)} features was expected"
    return None


def _artifact(package: ModelPackage) -> Artifact:
    manifest = package.manifest
    tflite, onnx = manifest.artifact("tflite"), manifest.artifact("onnx")
    if tflite is not None:
        try:
            interpreter_class()
            return tflite
        except ArtifactLoadError:
            pass
    if onnx is not None:
        return onnx
    if tflite is not None:
        raise RiskModelError(f"{manifest.name}@{manifest.version} has only a TFLite artifact and LiteRT is not installed")
    raise RiskModelError(f"{manifest.name}@{manifest.version} has no ONNX or TFLite artifact")

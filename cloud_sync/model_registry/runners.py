"""A registered version, loaded and ready to run: camera detectors through the edge's own path, risk
scorers through the edge's back-ends.

A camera model runs in :class:`~edge_runtime.vision.model_runner.ModelRunner`
(the same preprocessing, back-end choice, decoding and NMS as on a camera,
so a try-out answers what the edge would see). A risk model's artifact is
loaded in the back-end its format calls for (ONNX Runtime first: it takes a
batch of rows at once; a TFLite scorer takes one row at a time). A runner
keeps buffers between calls and is not thread-safe, so each loaded model
runs under its own lock; requests for different models run in parallel.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.vision.backends.base import BackendError, InferenceBackend
from edge_runtime.vision.backends.registry import default_registry
from edge_runtime.vision.detections import Detection
from edge_runtime.vision.model_runner import Lineage, ModelRunner, Timings
from models.package import Artifact, ModelPackage, load_package

from .errors import BadInput, PackageRefused
from .records import LineageStep, ModelVersion

MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Scores:
    scores: list[float]
    inference_ms: float


class CameraModel:
    """A detection or classification model on images (BGR frames)."""

    def __init__(self, version: ModelVersion, lineage: list[LineageStep], runner: ModelRunner) -> None:
        self.version, self.lineage, self.runner = version, lineage, runner
        self._lock = threading.Lock()

    @property
    def backend(self) -> Lineage:
        return self.runner.lineage

    def detect(self, frame_bgr: np.ndarray) -> tuple[list[Detection], Timings]:
        with self._lock:
            return self.runner.detect(frame_bgr)


class RiskModel:
    """A scorer of feature rows: ``features [-1, n]`` float32 in, ``probability [-1]`` out."""

    def __init__(self, version: ModelVersion, lineage: list[LineageStep], package: ModelPackage, key: str,
                 artifact: Artifact, backend: InferenceBackend) -> None:
        self.version, self.lineage = version, lineage
        manifest = package.manifest
        shape = manifest.inputs[0].shape
        if len(shape) != 2 or shape[1] <= 0:
            raise PackageRefused(f"{manifest.name} {manifest.version}: a risk model takes [-1, n] rows, "
                                 f"its input is {list(shape)}")
        self.width = shape[1]
        self.feature_names: tuple[str, ...] = manifest.features if len(manifest.features) == self.width else ()
        self.backend = Lineage(manifest.name, manifest.version, artifact.sha256, key, artifact.path, artifact.format,
                               artifact.precision)
        self._one_row = artifact.format == "tflite"  # LiteRT keeps the input at the batch it was built with
        self._runtime = backend
        self._lock = threading.Lock()

    def rows_from_features(self, features: Mapping[str, float | None]) -> np.ndarray:
        """One row in the model's column order; BadInput naming missing or unknown features."""
        if not self.feature_names:
            raise BadInput(f"{self.version.name} {self.version.version} does not name its features; send "
                           f'{{"rows": [[...{self.width} numbers]]}}')
        missing = [n for n in self.feature_names if n not in features]
        unknown = sorted(set(features) - set(self.feature_names))
        if missing or unknown:
            raise BadInput("features do not match the model's: " + "; ".join(
                part for part in (f"missing {', '.join(missing)}" if missing else "",
                                  f"unknown {', '.join(unknown)}" if unknown else "") if part))
        return self.rows([[features[n] for n in self.feature_names]])

    def rows(self, rows: Sequence[Sequence[float | None]]) -> np.ndarray:
        """float32 rows; None is a value the sensors did not give (NaN: the model's imputer fills it)."""
        if not rows or len(rows) > MAX_ROWS:
            raise BadInput(f"send 1 to {MAX_ROWS} rows, got {len(rows)}")
        bad = next((i for i, r in enumerate(rows) if len(r) != self.width), None)
        if bad is not None:
            raise BadInput(f"row {bad} has {len(rows[bad])} values; the model takes {self.width}")
        x = np.asarray([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)
        if np.any(np.isinf(x)):
            raise BadInput("rows hold a value too large for float32")
        return x

    def score(self, x: np.ndarray) -> Scores:
        t0 = time.perf_counter()
        with self._lock:
            if self._one_row:
                out = np.concatenate([self._runtime.infer(x[i:i + 1])[0].reshape(-1) for i in range(len(x))])
            else:
                out = self._runtime.infer(x)[0].reshape(-1)
        if out.shape[0] != x.shape[0]:
            raise BackendError(f"{self.version.name}: {out.shape[0]} scores for {x.shape[0]} rows")
        return Scores([float(v) for v in out], (time.perf_counter() - t0) * 1e3)


LoadedModel = CameraModel | RiskModel


def load_model(version: ModelVersion, lineage: list[LineageStep], package_dir: Path,
               trusted_keys: Mapping[str, bytes]) -> LoadedModel:
    """The stored package verified again (the store is a disk, not a proof) and loaded for its task."""
    try:
        package = load_package(package_dir, trusted_keys=dict(trusted_keys), require_signature=True)
    except ValueError as exc:  # PackageError
        raise PackageRefused(f"stored package of {version.name} {version.version}: {exc}") from None
    if package.manifest.task == "risk":
        registry = default_registry()
        offered = {a.format for a in package.manifest.artifacts}
        key, artifact = registry.choose(package, "onnxruntime" if "onnx" in offered and _has_ort() else "auto")
        backend = registry.create_backend(key)
        try:
            backend.load(package, artifact)
            return RiskModel(version, lineage, package, key, artifact, backend)
        except BaseException:
            backend.close()
            raise
    return CameraModel(version, lineage, ModelRunner.from_package(package))


def _has_ort() -> bool:
    return not isinstance(default_registry().available_backends().get("onnxruntime", "missing"), str)

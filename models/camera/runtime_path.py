"""The edge runtime's camera path, as training uses it: the same preprocessing, back-ends and decoder.

Evaluating exported artifacts through :class:`ModelRunner` (not through
Keras) makes the accuracy written into the manifest the accuracy the edge
gets, quantisation, letterbox rounding and NMS included. Training inputs come
from the same :class:`Preprocessor`, so the model never sees a letterbox the
edge would not make.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_runtime.vision.detections import Detection
from edge_runtime.vision.model_runner import ModelRunner
from edge_runtime.vision.preprocess import LetterboxTransform, Preprocessor
from models.package import Artifact, ModelPackage, Preprocessing, TensorSpec

BACKEND_FOR_FORMAT: dict[str, str] = {"tflite": "litert", "onnx": "onnxruntime", "tensorrt": "tensorrt"}
MAP_CONF_THRESHOLD = 0.05
"""Decoder threshold while measuring mAP, which integrates over all operating points."""

Detector = Callable[[np.ndarray], list[Detection]]
"""A BGR frame in, detections in frame pixels out."""


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, LetterboxTransform]:
    """The RGB uint8 canvas the runtime builds from ``frame``, and its frame-to-input transform.

    Training divides by 255 itself: the same values the runtime's float32
    ``(pixel - 0) / 255`` preprocessing gives the exported model.
    """
    spec = TensorSpec(name="images", shape=(1, size, size, 3), dtype="uint8")
    tensor, transform = Preprocessor(Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)), spec)(frame)
    return tensor[0].copy(), transform


def open_runner(package: ModelPackage, artifact: Artifact, *, conf_threshold: float | None = None) -> ModelRunner:
    """``artifact`` loaded in the back-end the edge would use for its format, optionally at another threshold."""
    manifest = package.manifest
    if conf_threshold is not None and manifest.decoder is not None:
        decoder = manifest.decoder.model_copy(update={"conf_threshold": conf_threshold})
        manifest = manifest.model_copy(update={"decoder": decoder})
    view = ModelPackage(package.root, manifest, package.signed_by)
    key = f"{BACKEND_FOR_FORMAT[artifact.format]}:{artifact.precision}"
    config = None if artifact.format == "tensorrt" else {"num_threads": 2}  # TensorRT has no thread setting
    return ModelRunner.from_package(view, backend=key, config=config)


def detector(runner: ModelRunner) -> Detector:
    """The runner as a plain frame -> detections function (timings dropped)."""
    return lambda frame: runner.detect(frame)[0]

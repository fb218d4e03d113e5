"""The camera detector as a :class:`models.build.builder.Family`: its exporters and its held-out check.

Everything is measured the way the edge runs it: each artifact through the
edge's runtime path (:mod:`.runtime_path`: the same letterbox, back-end and
decoder), the float reference as the frozen TensorFlow serving function fed
the same preprocessed tensor and decoded by the same decoder. Accuracy is
recall at the shipped threshold, over all classes and for each class
(:func:`.evaluate.score`). Agreement is on detections, not raw tensors (a
raw int8 score moves by its quantisation step on thousands of empty grid
rows, which no one sees): the share of the float model's detections the
artifact finds again (same class, IoU >= 0.5) must reach :data:`AGREEMENT`
for its precision; the deviation recorded is the largest score difference or
``1 - IoU`` over those matched pairs.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable
from edge_runtime.vision.detections import Detection
from edge_runtime.vision.postprocess import Postprocessor
from edge_runtime.vision.preprocess import Preprocessor
from models.build.builder import BuildFailed, Exported, Format, Measured
from models.build.check import Evaluation
from models.build.targets import Precision
from models.package import Artifact, Manifest, ModelPackage, PackageError, sha256_file

from .dataset import Split
from .evaluate import IOU_MATCH, _iou, score
from .packaging import OUTPUT_NAME
from .runtime_path import open_runner
from .scene import LABELS

FILES = {("onnx", "fp32"): "model.onnx", ("tflite", "fp32"): "model_fp32.tflite",
         ("tflite", "int8"): "model_int8.tflite", ("tensorrt", "fp32"): "model_fp32.engine",
         ("tensorrt", "fp16"): "model_fp16.engine", ("tensorrt", "int8"): "model_int8.engine"}
AGREEMENT: dict[str, float] = {"fp32": 0.98, "fp16": 0.95, "int8": 0.85}
"""Least share of the float model's detections an artifact of each precision must find again."""
BUILD_MARGIN = 0.05
"""Recall an artifact may lose against the float model, overall and per class: the held-out sets are small (one
object of twenty is 0.05), and a real loss from compilation (bad calibration, a broken export) is far larger."""


class CameraFamily:
    """A frozen serving function, the manifest it ships under, held-out frames, and images to calibrate int8 on."""

    engines = True

    def __init__(self, frozen: Any, manifest: Manifest, root: Path, held_out: Split, calibration: np.ndarray) -> None:
        if manifest.decoder is None:
            raise ValueError("the manifest has no decoder: no operating threshold to measure recall at")
        self.frozen, self.manifest, self.root, self.held_out = frozen, manifest, Path(root), held_out
        self.calibration = np.asarray(calibration, np.uint8)
        self.threshold = manifest.decoder.conf_threshold
        self._pre = Preprocessor(manifest.preprocessing, manifest.inputs[0])
        self._reference = [self._float_detect(frame) for frame in held_out.frames]

    def filename(self, fmt: Format, precision: Precision) -> str:
        return FILES[(fmt, precision)]

    def export(self, fmt: Literal["onnx", "tflite"], precision: Precision, path: Path) -> Exported:
        from .export import export_onnx, export_tflite_fp32, export_tflite_int8

        try:
            if fmt == "onnx":
                done = export_onnx(self.frozen, path)
            elif precision == "int8":
                done = export_tflite_int8(self.frozen, path, self.calibration)
            else:
                done = export_tflite_fp32(self.frozen, path)
        except Exception as exc:  # noqa: BLE001 - TensorFlow's converters raise ConverterError, ValueError...
            raise BuildFailed(f"{type(exc).__name__}: {exc}") from None
        return Exported(done.path, done.quantization)

    def reference(self) -> Evaluation:
        return self._evaluation(self._reference)

    def measure(self, path: Path, fmt: Format, precision: Precision, target: str) -> Measured:
        artifact = Artifact(path=path.relative_to(self.root).as_posix(), format=fmt, precision=precision,
                            target=target, sha256=sha256_file(path), quantization=self._quantization(path, fmt))
        view = ModelPackage(self.root, self.manifest.model_copy(update={"artifacts": (artifact,)}), None)
        try:
            runner = open_runner(view, artifact)
        except (BackendError, BackendUnavailable, PackageError) as exc:
            raise BuildFailed(str(exc)) from None
        try:
            found = [runner.detect(frame)[0] for frame in self.held_out.frames]
        except BackendError as exc:
            raise BuildFailed(str(exc)) from None
        finally:
            runner.close()
        matched, deviation = agreement(found, self._reference)
        problem = None if matched >= AGREEMENT[precision] else (
            f"finds {matched:.1%} of the float model's detections again (same class, IoU >= {IOU_MATCH}); "
            f"{precision} needs {AGREEMENT[precision]:.0%}")
        return Measured(self._evaluation(found), deviation, problem)

    def engine_input(self) -> tuple[tuple[int, ...], np.ndarray]:
        shape = tuple(self.manifest.inputs[0].shape)
        tensors = np.stack([self._tensor_of_canvas(image) for image in self.calibration])
        return shape, tensors

    def _evaluation(self, found: Sequence[Sequence[Detection]]) -> Evaluation:
        scores = score(found, self.held_out.boxes, LABELS, self.threshold)
        return Evaluation(scores.recall, scores.recall_by_label)

    def _float_detect(self, frame: np.ndarray) -> list[Detection]:
        import tensorflow as tf

        tensor, transform = self._pre(frame)
        result = self.frozen(tf.constant(tensor))
        output = result[OUTPUT_NAME] if isinstance(result, dict) else result[0] if isinstance(result, (list, tuple)) else result
        post = Postprocessor(self.manifest, self._pre.width, self._pre.height)
        return [d for d in post([np.asarray(output, np.float32)], transform) if d.score >= self.threshold]

    def _tensor_of_canvas(self, image: np.ndarray) -> np.ndarray:
        """A letterboxed RGB uint8 canvas as the float input tensor the manifest's preprocessing makes."""
        spec = self.manifest.preprocessing
        return ((image.astype(np.float32) - np.float32(spec.mean)) / np.float32(spec.std))[None]

    def _quantization(self, path: Path, fmt: Format) -> dict[str, tuple[float, int]]:
        if fmt != "tflite":
            return {}
        from .export import _tflite_quantization

        return _tflite_quantization(path)


def agreement(found: Sequence[Sequence[Detection]], reference: Sequence[Sequence[Detection]]) -> tuple[float, float]:
    """(share of the reference's detections matched by ``found``, largest score or 1 - IoU gap of the matches)."""
    total, matched, worst = 0, 0, 0.0
    for mine, theirs in zip(found, reference, strict=True):
        used = np.zeros(len(mine), bool)
        for ref in sorted(theirs, key=lambda d: -d.score):
            total += 1
            candidates = [i for i, d in enumerate(mine) if d.label == ref.label and not used[i]]
            if not candidates:
                continue
            ious = _iou(np.asarray(ref.box, np.float32), np.asarray([mine[i].box for i in candidates], np.float32))
            best = int(np.argmax(ious))
            if ious[best] >= IOU_MATCH:
                used[candidates[best]] = True
                matched += 1
                worst = max(worst, abs(mine[candidates[best]].score - ref.score), 1.0 - float(ious[best]))
    return (matched / total if total else 1.0), worst

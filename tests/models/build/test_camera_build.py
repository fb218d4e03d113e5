"""Builds per target profile for the camera detector, for real: the shipped detector (recovered from its ONNX)
exported to ONNX, TFLite fp32 and int8, each run through the edge's runtime path on rendered held-out scenes and
checked against the float serving function: detections found again, recall overall and per class.

int8 calibrated on black frames loses its input range and is refused with the reason while the float artifacts
ship; calibrated on real frames it passes and its numbers go into the manifest.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from models.build.builder import BuildReport, build
from models.build.targets import PROFILES
from models.camera import DEFAULT_PACKAGE
from models.camera.build import CameraFamily
from models.camera.dataset import render_split
from models.camera.runtime_path import letterbox
from models.camera.scene import LABELS
from models.package import load_package

MARGIN = 0.05
HELD_OUT, CALIBRATION = 24, 32


@pytest.fixture(scope="module")
def parts() -> tuple[object, object, object, np.ndarray]:
    from models.camera.export import serving_function
    from models.camera.model import build_exportable
    from models.camera.recover import trainable_from_package

    manifest = load_package(DEFAULT_PACKAGE).manifest
    frozen = serving_function(build_exportable(trainable_from_package(DEFAULT_PACKAGE)))
    size = manifest.inputs[0].shape[1]
    canvases = np.stack([letterbox(frame, size)[0] for frame in render_split(4, "train", CALIBRATION).frames])
    return frozen, manifest, render_split(9, "test", HELD_OUT), canvases


def run(parts: tuple, out: Path, calibration: np.ndarray) -> BuildReport:
    frozen, manifest, held_out, _ = parts
    out.mkdir()
    return build(CameraFamily(frozen, manifest, out, held_out, calibration), [PROFILES["pi4"], PROFILES["x86"]], out,
                 margin=MARGIN)


def test_a_good_build_ships_three_artifacts_each_as_good_as_the_float_model(parts: tuple, tmp_path: Path) -> None:
    report = run(parts, tmp_path / "good", parts[3])
    assert not report.refused, report.refused
    assert {(a.path, a.format, a.precision, a.target) for a in report.artifacts()} == {
        ("model.onnx", "onnx", "fp32", "x86"), ("model_fp32.tflite", "tflite", "fp32", "pi4"),
        ("model_int8.tflite", "tflite", "int8", "pi4")}
    checks = report.checks()
    reference = checks["model.onnx"].reference_recall
    assert reference > 0.3 and checks["model.onnx"].max_deviation < 1e-3
    by_class = checks["model.onnx"].recall_by_class  # the float model's are the reference's, per artifact
    assert "person" in by_class and set(by_class) <= set(LABELS)
    for path, numbers in checks.items():
        assert numbers.recall >= reference - MARGIN and numbers.margin == MARGIN, (path, numbers)
        assert set(numbers.recall_by_class) == set(by_class), (path, numbers)


def test_int8_calibrated_on_black_frames_is_refused_with_the_reason(parts: tuple, tmp_path: Path) -> None:
    report = run(parts, tmp_path / "bad", np.zeros_like(parts[3]))
    (refused,) = report.refused
    assert (refused.path, refused.stage) == ("model_int8.tflite", "check"), refused
    assert "recall" in refused.reason and refused.check is not None
    assert refused.check.recall < refused.check.reference_recall - MARGIN
    assert not (tmp_path / "bad" / "model_int8.tflite").exists()
    assert [a.path for a in report.artifacts()] == ["model.onnx", "model_fp32.tflite"] and not report.uncovered()

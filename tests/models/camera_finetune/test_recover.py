"""The trainable detector recovered from the shipped package computes what the shipped ONNX computes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import keras
import onnxruntime as ort

from models.camera import DEFAULT_PACKAGE
from models.camera.dataset import render_split
from models.camera.export import export_onnx, serving_function
from models.camera.model import build_exportable
from models.camera.recover import RecoveryError, freeze_batchnorm, trainable_from_package
from models.camera.runtime_path import letterbox
from models.package import MANIFEST, SIGNATURE

TOLERANCE = 1e-4
"""On outputs in 0..1 (box corners, scores): float32 rounding between two graphs of the same function."""


@pytest.fixture(scope="module")
def recovered() -> keras.Model:
    return trainable_from_package(DEFAULT_PACKAGE)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    frames = render_split(9, "test", 6).frames
    return np.stack([letterbox(frame, 192)[0] for frame in frames]).astype(np.float32) / 255.0


def _onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"images": x[None]})[0] for x in inputs])


def test_the_recovered_model_matches_the_shipped_onnx(recovered: keras.Model, inputs: np.ndarray,
                                                      tmp_path: Path) -> None:
    shipped = _onnx(DEFAULT_PACKAGE / "model.onnx", inputs)
    serving = build_exportable(recovered)
    keras_out = np.concatenate([serving(x[None], training=False).numpy() for x in inputs])
    assert keras_out.shape == shipped.shape == (len(inputs), 720, 8)
    assert np.abs(keras_out - shipped).max() < TOLERANCE
    exported = export_onnx(serving_function(serving), tmp_path / "recovered.onnx")
    assert np.abs(_onnx(exported.path, inputs) - shipped).max() < TOLERANCE
    assert shipped[..., 4:].max() > 0.5  # the images hold people the model sees: the check is not on empty output


def test_frozen_batchnorm_runs_in_inference_mode(recovered: keras.Model, inputs: np.ndarray) -> None:
    assert freeze_batchnorm(recovered) == sum(isinstance(x, keras.layers.BatchNormalization) for x in recovered.layers)
    assert not any(w.name in ("gamma", "beta") for w in recovered.trainable_weights)
    training, inference = recovered(inputs, training=True).numpy(), recovered(inputs, training=False).numpy()
    np.testing.assert_array_equal(training, inference)


def test_a_package_without_onnx_cannot_be_recovered(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(DEFAULT_PACKAGE, tmp_path / "package"))
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] != "onnx"]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    (copy / SIGNATURE).unlink()
    with pytest.raises(RecoveryError, match="no ONNX artifact"):
        trainable_from_package(copy)

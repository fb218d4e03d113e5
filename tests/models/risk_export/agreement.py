"""Assert that exported artifacts score like their sklearn pipeline, in their real runtimes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.risk.artifact_runtime import open_artifact
from models.risk.export import export_onnx, export_tflite

from .pipelines import N_FEATURES

TOLERANCE = 1e-4


def scores(path: Path, fmt: str, x: np.ndarray) -> np.ndarray:
    out = open_artifact(path, fmt)(x)  # type: ignore[arg-type]
    assert out.dtype == np.float32 and out.shape == (len(x),)
    return out


def assert_agree(pipe: object, tmp_path: Path, x: np.ndarray, *, tflite: bool = True) -> None:
    want = pipe.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
    onnx_path = export_onnx(pipe, N_FEATURES, tmp_path / "risk.onnx")
    np.testing.assert_allclose(scores(onnx_path, "onnx", x), want, atol=TOLERANCE, rtol=0)
    if tflite:
        tflite_path = export_tflite(pipe, N_FEATURES, tmp_path / "risk.tflite")
        np.testing.assert_allclose(scores(tflite_path, "tflite", x), want, atol=TOLERANCE, rtol=0)
        single = open_artifact(tflite_path, "tflite")  # one row at a time, as the edge calls it
        np.testing.assert_allclose([single(row[None])[0] for row in x[:5]], want[:5], atol=TOLERANCE, rtol=0)

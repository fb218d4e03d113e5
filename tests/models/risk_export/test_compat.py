"""The compatibility report passes a good artifact; a wrong shape, small budget or broken file fail, with reasons."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.package import TensorSpec
from models.risk.agreement import disagreement
from models.risk.compat import check_artifact
from models.risk.targets import PROFILES

from .conftest import Exported
from .pipelines import N_FEATURES, dataset

IO = ((TensorSpec(name="features", shape=(-1, N_FEATURES), dtype="float32"),),
      (TensorSpec(name="probability", shape=(-1,), dtype="float32"),))
FOR_FORMAT = {"onnx": PROFILES["x86"], "tflite": PROFILES["pi4"]}


def reference(exported: Exported):  # type: ignore[no-untyped-def]
    return lambda x: exported.pipeline.predict_proba(x)[:, 1]


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_good_artifact_passes_with_load_test_numbers(exported: Exported, fmt: str) -> None:
    sample = dataset(rows=64, seed=11, missing=0.1)[0]
    report = check_artifact(exported.path(fmt), fmt, IO, FOR_FORMAT[fmt], reference(exported), sample,
                            clients=3, seconds=0.5)
    assert report.passed, report.reasons
    assert report.loads and report.shapes_match and report.memory_fits and report.outputs_agree
    assert report.reasons == ()
    assert 0 <= report.max_abs_diff <= 1e-4
    assert report.qps > 0 and 0 < report.p99_ms < 1000


def test_a_shape_mismatch_fails_with_a_reason(exported: Exported) -> None:
    wider = ((TensorSpec(name="features", shape=(-1, N_FEATURES + 1), dtype="float32"),), IO[1])
    report = check_artifact(exported.onnx, "onnx", wider, PROFILES["x86"], reference(exported),
                            dataset(rows=16, seed=12)[0], clients=2, seconds=0.2)
    assert not report.passed and not report.shapes_match
    assert report.outputs_agree  # the model itself is fine; the manifest is wrong
    assert any(f"the manifest says features [-1, {N_FEATURES + 1}]" in r for r in report.reasons)


def test_a_memory_budget_too_small_fails_with_a_reason(exported: Exported) -> None:
    tiny = replace(PROFILES["pi4"], memory_budget_mb=0.01)
    report = check_artifact(exported.tflite, "tflite", IO, tiny, reference(exported), dataset(rows=16, seed=13)[0],
                            clients=2, seconds=0.2)
    assert not report.passed and not report.memory_fits and report.shapes_match
    assert any("profile pi4 allows 0.0 MB" in r for r in report.reasons)


def test_disagreeing_scores_and_a_wrong_runtime_fail(exported: Exported) -> None:
    report = check_artifact(exported.onnx, "onnx", IO, PROFILES["pi4"], lambda x: np.zeros(len(x)),
                            dataset(rows=16, seed=14)[0], clients=1, seconds=0.2)
    assert not report.passed and not report.outputs_agree and report.max_abs_diff > 1e-4
    assert any("profile pi4 runs tflite, the artifact is onnx" in r for r in report.reasons)
    assert any(r.startswith("against the reference: scores differ by up to") for r in report.reasons)


def test_one_row_across_a_tree_threshold_is_rounding_more_is_a_wrong_export() -> None:
    reference = np.linspace(0.0, 1.0, 200)
    rounded = reference.copy()
    rounded[7] += 0.004  # one tree of a forest took the other branch for one row
    assert disagreement(rounded, reference) is None
    rounded[8:11] += 0.004
    assert "4 of 200 scores differ by over 0.0001" in (disagreement(rounded, reference) or "")
    assert "more than a tree threshold" in (disagreement(reference + 0.05, reference) or "")
    assert "not finite" in (disagreement(np.full(3, np.nan), np.zeros(3)) or "")


def test_an_artifact_that_does_not_load_fails(tmp_path: Path, exported: Exported) -> None:
    broken = tmp_path / "risk.onnx"
    broken.write_bytes(exported.onnx.read_bytes()[:100])
    report = check_artifact(broken, "onnx", IO, PROFILES["x86"], reference(exported), dataset(rows=4)[0])
    assert not report.loads and not report.passed
    assert report.reasons[0].startswith("does not load: risk.onnx: not a loadable ONNX model")

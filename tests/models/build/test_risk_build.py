"""Builds per target profile for the risk model, for real: exported, run in onnxruntime and LiteRT on a held-out
set, checked against the float pipeline, signed.

A good build ships ONNX, TFLite fp32 and a calibrated int8 TFLite with each artifact's recall, deviation and
margin in the signed manifest; an int8 calibrated on rows that do not span the data, a forest whose thresholds
int8 cannot hold, and an ONNX export with a corrupted weight are refused at build with the reason, and a
profile left with nothing it runs stops the build.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from models.build.builder import BuildRefused, Exported, build
from models.build.check import DEFAULT_MARGIN
from models.build.targets import PROFILES as BUILD_PROFILES
from models.package import PackageError, load_package
from models.risk.build import RiskFamily
from models.risk.packaging import build_risk_package
from models.risk.targets import PROFILES
from models.signing import key_id, public_key
from tests.models.risk_export.pipelines import N_FEATURES, dataset, fitted

KEY = bytes(range(32))
TRUSTED = {key_id(public_key(KEY)): public_key(KEY)}
NAMES = tuple(f"f{i}" for i in range(N_FEATURES))
TRAIN = dataset(rows=400, seed=0, raw_scales=False)
HOLDOUT = dataset(rows=200, seed=21, raw_scales=False)


def logistic() -> object:
    return fitted(LogisticRegression(max_iter=200), impute=SimpleImputer(), scale=StandardScaler(), data=TRAIN)


def package(pipeline: object, out: Path, calibration: np.ndarray | None, profiles: tuple = ("pi4", "x86")) -> tuple:
    return build_risk_package(
        pipeline, N_FEATURES, NAMES, out, name="risk", version="1", parent_version=None, run_id="run-1",
        metrics={}, signing_key=KEY, profiles=[PROFILES[p] for p in profiles], holdout=HOLDOUT, threshold=0.5,
        calibration=calibration)


def test_a_good_build_ships_every_artifact_with_its_numbers_signed(tmp_path: Path) -> None:
    pkg, report = package(logistic(), tmp_path / "pkg", TRAIN[0])
    assert not report.refused, report.refused
    m = load_package(tmp_path / "pkg", trusted_keys=TRUSTED).manifest
    assert {(a.path, a.format, a.precision, a.target) for a in m.artifacts} == {
        ("risk.onnx", "onnx", "fp32", "x86"), ("risk.tflite", "tflite", "fp32", "pi4"),
        ("risk_int8.tflite", "tflite", "int8", "pi4")}
    assert set(m.checks) == {a.path for a in m.artifacts} and m.checks == pkg.manifest.checks
    floor = m.checks["risk.onnx"].reference_recall - DEFAULT_MARGIN
    for path, numbers in m.checks.items():
        assert numbers.recall >= floor and numbers.margin == DEFAULT_MARGIN, (path, numbers)
    assert m.checks["risk.onnx"].max_deviation < 1e-4 and 0 < m.checks["risk_int8.tflite"].max_deviation < 0.05
    assert m.metrics["tflite_int8.auc"] > 0.5 and m.device_builds == ()

    document = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    document["checks"]["risk_int8.tflite"]["recall"] = 1.0  # the claim is covered by the signature
    (tmp_path / "pkg" / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(PackageError, match="signature does not verify"):
        load_package(tmp_path / "pkg", trusted_keys=TRUSTED)


def test_int8_calibrated_on_rows_that_miss_the_data_is_refused_and_the_rest_ships(tmp_path: Path) -> None:
    pkg, report = package(logistic(), tmp_path / "pkg", TRAIN[0] * 0.01)  # a hundredth of every feature's range
    ((refused),) = report.refused
    assert (refused.path, refused.stage) == ("risk_int8.tflite", "check")
    assert refused.reason.startswith("risk_int8.tflite: outputs: scores differ by up to"), refused.reason
    assert "recall" in refused.reason and refused.check.recall < refused.check.reference_recall - DEFAULT_MARGIN
    assert not (tmp_path / "pkg" / "risk_int8.tflite").exists()
    m = load_package(tmp_path / "pkg", trusted_keys=TRUSTED).manifest
    assert {a.path for a in m.artifacts} == set(m.checks) == {"risk.onnx", "risk.tflite"}


def test_a_forest_loses_its_thresholds_in_int8_and_only_that_build_is_refused(tmp_path: Path) -> None:
    forest = fitted(RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), data=TRAIN)
    _, report = package(forest, tmp_path / "pkg", TRAIN[0])
    assert [r.path for r in report.refused] == ["risk_int8.tflite"]
    assert "recall" in report.refused[0].reason and report.as_metrics()["refused"]["risk_int8.tflite"]["recall"] < 0.5


class CorruptedWeights(RiskFamily):
    """The real exporter, then the ONNX model's largest coefficient made -10 times itself: a broken converter."""

    def export(self, fmt, precision, path):  # type: ignore[no-untyped-def]
        exported = super().export(fmt, precision, path)
        if fmt == "onnx":
            model = onnx.load(str(path))
            (linear,) = [n for n in model.graph.node if n.op_type == "LinearClassifier"]
            (weights,) = [a for a in linear.attribute if a.name == "coefficients"]
            values = np.array(weights.floats)  # one row per class; the positive class's row is the second
            positive = values[len(values) // 2:]
            positive[np.argmax(np.abs(positive))] *= -10
            weights.floats[:] = values.tolist()
            onnx.save(model, str(path))
        return Exported(exported.path)


def test_an_export_with_a_corrupted_weight_is_refused_and_its_profile_stops_the_build(tmp_path: Path) -> None:
    family = CorruptedWeights(logistic(), N_FEATURES, HOLDOUT, 0.5, None)
    report = build(family, [BUILD_PROFILES["x86"], BUILD_PROFILES["pi5"]], tmp_path, margin=DEFAULT_MARGIN,
                   int8=False)
    assert [r.path for r in report.refused] == ["risk.onnx"] and "recall" in report.refused[0].reason
    assert [a.path for a in report.artifacts()] == ["risk.tflite"]
    with pytest.raises(BuildRefused, match=r"profile x86: risk.onnx: outputs: .*recall \d\.\d+ < float model's"):
        report.require_every_profile()


def test_a_jetson_runs_the_risk_model_on_its_cpu_so_no_engine_is_built(tmp_path: Path) -> None:
    pkg, report = package(logistic(), tmp_path / "pkg", None, profiles=("jetson-orin",))
    assert [(a.format, a.target) for a in pkg.manifest.artifacts] == [("onnx", "jetson-orin")]
    assert report.device_builds == [] and not report.refused

"""A risk package is written, signed and verified; tampering is refused by load_package."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression

from models.package import ModelPackage, PackageError, load_package
from models.risk.export import ExportError
from models.risk.packaging import PackagingError, package_risk_model
from models.risk.targets import PROFILES
from models.signing import PUBLIC_KEY_FILE, key_id, public_key

from .conftest import Exported
from .pipelines import N_FEATURES, dataset, fitted

NAMES = tuple(f"f{i}" for i in range(N_FEATURES))
KEY = bytes(range(32))
PUBLIC = public_key(KEY)


def package(pipeline: object, out: Path, profiles: tuple = (PROFILES["pi4"], PROFILES["x86"]),
            **overrides: object) -> ModelPackage:
    args = dict(name="siteguard-risk-alarm-real", version="2026.12.03-1", parent_version="2026.11.30-2",
                run_id="run-42", metrics={"cv.ap": 0.5}, signing_key=KEY, profiles=profiles,
                holdout=dataset(rows=120, seed=21, missing=0.05))
    args.update(overrides)
    return package_risk_model(pipeline, N_FEATURES, NAMES, out, **args)  # type: ignore[arg-type]


def trusted() -> dict[str, bytes]:
    return {key_id(PUBLIC): PUBLIC}


def test_a_package_round_trips(exported: Exported, tmp_path: Path) -> None:
    pkg = package(exported.pipeline, tmp_path / "pkg")
    m = pkg.manifest
    assert pkg.signed_by == key_id(PUBLIC)
    assert (m.task, m.features, m.parent_version, m.training_run_id) == ("risk", NAMES, "2026.11.30-2", "run-42")
    assert [(i.name, i.shape, i.dtype) for i in m.inputs] == [("features", (-1, N_FEATURES), "float32")]
    assert [(o.name, o.shape, o.dtype) for o in m.outputs] == [("probability", (-1,), "float32")]
    assert {(a.path, a.format, a.target) for a in m.artifacts} == {("risk.onnx", "onnx", "x86"),
                                                                  ("risk.tflite", "tflite", "pi4")}
    for fmt in ("float", "onnx", "tflite"):
        assert 0.5 < m.metrics[f"{fmt}.auc"] <= 1 and 0 < m.metrics[f"{fmt}.ap"] <= 1
    assert m.metrics["onnx.max_abs_diff"] <= 1e-4 and m.metrics["tflite.max_abs_diff"] <= 1e-4
    assert m.metrics["cv.ap"] == 0.5 and m.metrics["holdout.rows"] == 120
    assert (tmp_path / "pkg" / PUBLIC_KEY_FILE).read_text().strip() == PUBLIC.hex()
    again = load_package(tmp_path / "pkg", trusted_keys=trusted())
    assert again.manifest == m


def test_a_tampered_artifact_or_manifest_is_refused(exported: Exported, tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    package(exported.pipeline, root)
    tflite = root / "risk.tflite"
    original = tflite.read_bytes()
    tflite.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(PackageError, match="risk.tflite does not match its sha256"):
        load_package(root, trusted_keys=trusted())
    tflite.write_bytes(original)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["metrics"]["tflite.auc"] = 0.999
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="signature does not verify"):
        load_package(root, trusted_keys=trusted())


def test_a_pipeline_without_tflite_form_ships_onnx_only(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=KNNImputer(), data=dataset(missing=0.1, raw_scales=False))
    holdout = dataset(rows=120, seed=21, missing=0.05, raw_scales=False)
    pkg = package(pipe, tmp_path / "pkg", profiles=(PROFILES["x86"], PROFILES["jetson-orin"]), holdout=holdout)
    assert [(a.format, a.target) for a in pkg.manifest.artifacts] == [("onnx", "jetson-orin,x86")]
    assert "tflite.ap" not in pkg.manifest.metrics
    with pytest.raises(ExportError, match="profiles pi4 run TFLite.*KNNImputer"):
        package(pipe, tmp_path / "pkg2", holdout=holdout)


def test_bad_input_is_named(exported: Exported, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.onnx").write_bytes(b"x")
    with pytest.raises(PackagingError, match="must be new or empty"):
        package(exported.pipeline, tmp_path / "full")
    with pytest.raises(PackagingError, match="feature_names"):
        package_risk_model(exported.pipeline, N_FEATURES, NAMES[:-1], tmp_path / "a", name="n", version="1",
                           parent_version=None, run_id="r", metrics={}, signing_key=KEY, profiles=[PROFILES["x86"]],
                           holdout=dataset(rows=20))
    x, _ = dataset(rows=20)
    with pytest.raises(PackagingError, match="both classes"):
        package(exported.pipeline, tmp_path / "b", holdout=(x, np.zeros(20, int)))
    with pytest.raises(PackagingError, match=r"metrics \['onnx.ap'\] are measured here"):
        package(exported.pipeline, tmp_path / "c", metrics={"onnx.ap": 1.0})
    assert os.listdir(tmp_path / "full") == ["old.onnx"]  # nothing written beside a stranger's files
    assert not any((tmp_path / d).exists() for d in "abc")


def test_a_failed_packaging_leaves_nothing_behind(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=KNNImputer(), data=dataset(missing=0.1, raw_scales=False))
    with pytest.raises(ExportError):
        package(pipe, tmp_path / "pkg", holdout=dataset(rows=50, seed=2, raw_scales=False))
    assert not (tmp_path / "pkg").exists()

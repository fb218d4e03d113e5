"""Pipelines that cannot be exported are refused with an ExportError naming the step and why."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from models.risk.export import ExportError, export_onnx, export_tflite
from models.risk.tree_ops import TreeTooLarge, float32_at_most, pack_trees

from .pipelines import N_FEATURES, dataset, fitted


@pytest.mark.parametrize("imputer", [KNNImputer(), IterativeImputer(max_iter=2, random_state=0)],
                         ids=["knn", "iterative"])
def test_knn_and_iterative_imputers_have_no_tflite_form(imputer: object, tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=imputer, data=dataset(missing=0.1))
    with pytest.raises(ExportError, match=rf"step 'impute': {type(imputer).__name__} .*ships ONNX only"):
        export_tflite(pipe, N_FEATURES, tmp_path / "risk.tflite")
    assert not (tmp_path / "risk.tflite").exists()


def test_imputer_options_without_a_form_are_named(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=SimpleImputer(add_indicator=True), data=dataset(missing=0.1))
    for export in (export_onnx, export_tflite):
        with pytest.raises(ExportError, match="add_indicator"):
            export(pipe, N_FEATURES, tmp_path / "risk.out")
    iterative = IterativeImputer(estimator=DecisionTreeRegressor(max_depth=2), max_iter=2, random_state=0)
    pipe = fitted(LogisticRegression(), impute=iterative, data=dataset(missing=0.1))
    with pytest.raises(ExportError, match="DecisionTreeRegressor round estimator"):
        export_onnx(pipe, N_FEATURES, tmp_path / "risk.onnx")


def test_the_pipeline_shape_is_checked(tmp_path: Path) -> None:
    x, y = dataset()
    cases = [
        (Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y), "expected exactly"),
        (fitted(LogisticRegression(), scale=Normalizer()), "step 'scale': Normalizer is not supported"),
        (Pipeline([("impute", "passthrough"), ("scale", "passthrough"), ("select", "passthrough"),
                   ("model", LogisticRegression())]), "not fitted"),
        (fitted(LogisticRegression(), data=(x, np.arange(len(y)) % 3)), "3 classes"),
        (LogisticRegression().fit(x, y), "expected a fitted sklearn Pipeline"),
    ]
    for pipe, message in cases:
        for export in (export_onnx, export_tflite):
            with pytest.raises(ExportError, match=message):
                export(pipe, N_FEATURES, tmp_path / "risk.out")
    with pytest.raises(ExportError, match=f"fitted on {N_FEATURES} features, not 5"):
        export_onnx(fitted(LogisticRegression()), 5, tmp_path / "risk.onnx")


def test_an_oversized_forest_is_refused_before_any_allocation() -> None:
    forest = fitted(RandomForestClassifier(n_estimators=4, random_state=0)).named_steps["model"]
    trees = [e.tree_ for e in forest.estimators_]
    values = [t.value[:, 0, 1] for t in trees]
    packed = pack_trees(trees, values)
    assert packed.shape[0] == 4
    with pytest.raises(TreeTooLarge, match="limit max_depth or max_leaf_nodes"):
        pack_trees(trees, values, max_elements=int(np.prod(packed.shape)) - 1)


def test_gemm_tensors_reach_exactly_the_leaf_sklearn_reaches() -> None:
    forest = fitted(RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0)).named_steps["model"]
    trees = [e.tree_ for e in forest.estimators_]
    packed = pack_trees(trees, [np.arange(t.node_count, dtype=float) for t in trees])  # leaf value = its node id
    x = dataset(rows=50, seed=1)[0]
    go_left = (x[:, packed.features] <= packed.thresholds).astype(np.float32)  # (rows, trees, internal)
    reached = np.einsum("nti,til->ntl", go_left, packed.paths) == packed.left_turns
    assert (reached.sum(axis=2) == 1).all()  # one leaf per tree and row
    leaves = (reached * packed.leaf_values).sum(axis=2)
    np.testing.assert_array_equal(leaves, np.stack([e.apply(x) for e in forest.estimators_], axis=1))


def test_thresholds_round_down_to_the_float32_sklearn_compares_against() -> None:
    t = np.array([0.1, 1.0, -0.3, 1e-8, np.float64(np.float32(0.7))])
    rounded = float32_at_most(t)
    assert rounded.dtype == np.float32
    assert (rounded.astype(np.float64) <= t).all()
    assert (np.nextafter(rounded, np.float32(np.inf)).astype(np.float64) > t).all()

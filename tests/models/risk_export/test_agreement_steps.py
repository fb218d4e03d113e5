"""Imputer, selector and option variants: ONNX and TFLite score like sklearn within 1e-4."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.feature_selection import RFE, SelectFromModel, SelectKBest, VarianceThreshold
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from models.risk.artifact_runtime import open_artifact
from models.risk.export import export_onnx, export_tflite

from .agreement import assert_agree
from .pipelines import N_FEATURES, dataset, fitted


@pytest.mark.parametrize("imputer", [
    SimpleImputer(strategy="mean"), SimpleImputer(strategy="median"), SimpleImputer(strategy="most_frequent"),
    SimpleImputer(strategy="constant", fill_value=-1.0),
], ids=["mean", "median", "most_frequent", "constant"])
def test_simple_imputers_fill_missing_values_like_sklearn(imputer: SimpleImputer, tmp_path: Path) -> None:
    pipe = fitted(GradientBoostingClassifier(n_estimators=15, random_state=0), impute=imputer,
                  scale=StandardScaler(), data=dataset(missing=0.15))
    assert_agree(pipe, tmp_path, dataset(rows=150, seed=3, missing=0.2)[0])


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_a_column_missing_in_all_training_rows_is_dropped_or_kept_as_sklearn_does(tmp_path: Path) -> None:
    x, y = dataset(missing=0.1)
    x[:, 2] = np.nan
    probe = dataset(rows=100, seed=4, missing=0.1)[0]
    for keep in (False, True):
        pipe = fitted(LogisticRegression(), impute=SimpleImputer(keep_empty_features=keep), data=(x, y))
        assert_agree(pipe, tmp_path, probe)


def test_knn_imputer_exports_to_onnx(tmp_path: Path) -> None:
    # standardised columns: sklearn's float32 nan-euclidean expansion cancels badly on raw offsets (a column
    # around 50), and near-tied donors may then be picked differently by ONNX; KNN imputation is meant for
    # comparable scales anyway
    pipe = fitted(LogisticRegression(), impute=KNNImputer(n_neighbors=3), scale=MinMaxScaler(),
                  data=dataset(missing=0.15, raw_scales=False))
    assert_agree(pipe, tmp_path, dataset(rows=120, seed=5, missing=0.2, raw_scales=False)[0], tflite=False)


def test_iterative_imputer_exports_to_onnx(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=IterativeImputer(max_iter=3, random_state=0), scale=MinMaxScaler(),
                  data=dataset(missing=0.15))
    assert_agree(pipe, tmp_path, dataset(rows=120, seed=5, missing=0.2)[0], tflite=False)


def test_iterative_imputer_on_a_batch_with_nothing_observed_gives_the_initial_fill(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression(), impute=IterativeImputer(max_iter=3, random_state=0), data=dataset(missing=0.15))
    assert_agree(pipe, tmp_path, np.full((1, N_FEATURES), np.nan, np.float32), tflite=False)


@pytest.mark.parametrize("selector", [
    VarianceThreshold(0.5), SelectKBest(k=3), RFE(LogisticRegression(), n_features_to_select=3),
    SelectFromModel(RandomForestClassifier(n_estimators=10, random_state=0), max_features=3),
], ids=["variance", "kbest", "rfe", "from_model"])
def test_selectors_gather_the_kept_columns(selector: object, tmp_path: Path) -> None:
    pipe = fitted(MLPClassifier((5,), max_iter=100, random_state=0), scale=StandardScaler(), select=selector)
    assert_agree(pipe, tmp_path, dataset(rows=150, seed=6)[0])


def test_a_forest_without_imputer_routes_missing_values_as_sklearn_does(tmp_path: Path) -> None:
    pipe = fitted(RandomForestClassifier(n_estimators=10, random_state=0), data=dataset(missing=0.15))
    assert_agree(pipe, tmp_path, dataset(rows=150, seed=8, missing=0.3)[0])


def test_scaler_options_clip_and_no_centring(tmp_path: Path) -> None:
    probe = dataset(rows=100, seed=9)[0] * 3  # outside the training range, so clipping matters
    assert_agree(fitted(LogisticRegression(), scale=MinMaxScaler(feature_range=(-1, 1), clip=True)), tmp_path, probe)
    assert_agree(fitted(LogisticRegression(), scale=StandardScaler(with_mean=False)), tmp_path, probe)
    assert_agree(fitted(LogisticRegression(), scale=RobustScaler(with_centering=False)), tmp_path, probe)


def test_boosting_from_zero_init(tmp_path: Path) -> None:
    pipe = fitted(GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0))
    assert_agree(pipe, tmp_path, dataset(rows=100, seed=10)[0])


def test_artifacts_name_their_tensors_as_the_manifest_will(tmp_path: Path) -> None:
    pipe = fitted(LogisticRegression())
    for fmt, export in (("onnx", export_onnx), ("tflite", export_tflite)):
        sig = open_artifact(export(pipe, N_FEATURES, tmp_path / f"risk.{fmt}"), fmt).signature  # type: ignore[arg-type]
        assert (sig.input.name, sig.input.shape, sig.input.dtype) == ("features", (-1, N_FEATURES), "float32")
        assert (sig.output.name, sig.output.shape, sig.output.dtype) == ("probability", (-1,), "float32")

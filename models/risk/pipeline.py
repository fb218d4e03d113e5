"""Preprocessing options and the scikit-learn pipeline of a risk model.

A fitted risk model is a :class:`sklearn.pipeline.Pipeline` with exactly the
steps ``impute``, ``scale``, ``select``, ``model`` (any of the first three may
be ``"passthrough"``), taking float32 rows of ``len(FEATURES)`` and giving
``predict_proba(X)[:, 1]``. Only stock scikit-learn estimators appear in it,
so the export (skl2onnx, the TFLite rewrite) needs no custom converter.

Models are kept small enough for an edge device: at most 100 trees of depth
8 or less, an MLP of 32 + 16 units.

Missing values, ``drop``: rows with a NaN are left out of *training* (in the
columns that have any value at all: a sensor no example has cannot drop every
row), and the ``impute`` step is a median imputer fitted on the rows kept
(:func:`training_rows`).
The model cannot drop rows when it *scores*: the edge must give a score for
every alarm, including one whose worker's wearable is offline, so at predict
time a missing value becomes the training median. :func:`fit_pipeline` does
the dropping; a bare ``Pipeline.fit`` cannot, because a step of a scikit-learn
pipeline may not remove rows.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (makes IterativeImputer importable)
from sklearn.feature_selection import RFE, SelectFromModel, SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from .features import FEATURES

Missing = Literal["drop", "mean", "median", "most_frequent", "constant", "knn", "iterative"]
Scaling = Literal["minmax", "standard", "maxabs", "robust", "none"]
Selection = Literal["none", "variance", "univariate", "rfe", "model"]
Algorithm = Literal["logistic_regression", "random_forest", "gradient_boosting", "mlp"]
ALGORITHMS: tuple[Algorithm, ...] = ("logistic_regression", "random_forest", "gradient_boosting", "mlp")
STEPS = ("impute", "scale", "select", "model")


class PipelineOptions(BaseModel):
    """How the features are prepared before the model sees them (a typo in a key is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    missing: Missing = Field("median", description="what a missing value (NaN) becomes; 'drop': see the module")
    fill_value: float = Field(0.0, description="the value for missing='constant'")
    knn_neighbors: int = Field(5, ge=1, le=50, description="neighbours for missing='knn'")
    iterative_max_iter: int = Field(10, ge=1, le=100, description="rounds for missing='iterative'")
    scaling: Scaling = Field("standard", description="per-feature scaling after imputation")
    selection: Selection = Field("none", description="feature selection after scaling")
    variance_threshold: float = Field(0.0, ge=0.0, description="selection='variance': drop features with "
                                      "a training variance at or below this (after scaling)")
    k: int = Field(16, ge=1, description="selection='univariate' / 'rfe': how many features to keep")
    importance_threshold: float | Literal["mean", "median"] = Field(
        "median", description="selection='model': keep features whose tree importance is at least this")

    @model_validator(mode="after")
    def _k_fits(self) -> PipelineOptions:
        if self.k > len(FEATURES):
            raise ValueError(f"k={self.k} is more than the {len(FEATURES)} features there are")
        return self


def build_pipeline(options: PipelineOptions, algorithm: Algorithm, seed: int) -> Pipeline:
    """An unfitted pipeline with the steps ``impute``, ``scale``, ``select``, ``model``."""
    return Pipeline([
        ("impute", _imputer(options, seed)),
        ("scale", _scaler(options)),
        ("select", _selector(options, seed)),
        ("model", _model(algorithm, seed)),
    ])


def fit_pipeline(options: PipelineOptions, algorithm: Algorithm, seed: int, X: np.ndarray, y: np.ndarray) -> Pipeline:
    """Build and fit on :func:`training_rows`."""
    return build_pipeline(options, algorithm, seed).fit(*training_rows(options, X, y))


def training_rows(options: PipelineOptions, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows a pipeline trains on: all of them, or with ``missing='drop'`` those without a NaN."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != len(FEATURES) or len(y) != len(X):
        raise ValueError(f"X must be [n, {len(FEATURES)}] float32 with one label per row, "
                         f"got X {X.shape} and {len(y)} labels")
    if options.missing == "drop":
        observed = ~np.isnan(X).all(axis=0)
        complete = ~np.isnan(X[:, observed]).any(axis=1)
        X, y = X[complete], y[complete]
    classes = np.unique(y)
    if classes.size != 2:
        kept = f" after dropping rows with missing values ({len(y)} left)" if options.missing == "drop" else ""
        raise ValueError(f"training needs both classes, got {classes.tolist()}{kept}")
    return X, y


def _imputer(options: PipelineOptions, seed: int) -> BaseEstimator:
    # keep_empty_features: a sensor absent from every training row still has its column, so the
    # exported model's input stays [-1, len(FEATURES)].
    match options.missing:
        case "drop" | "median":
            return SimpleImputer(strategy="median", keep_empty_features=True)
        case "mean" | "most_frequent":
            return SimpleImputer(strategy=options.missing, keep_empty_features=True)
        case "constant":
            return SimpleImputer(strategy="constant", fill_value=options.fill_value, keep_empty_features=True)
        case "knn":
            return KNNImputer(n_neighbors=options.knn_neighbors, keep_empty_features=True)
        case "iterative":
            return IterativeImputer(max_iter=options.iterative_max_iter, random_state=seed, keep_empty_features=True)


def _scaler(options: PipelineOptions) -> BaseEstimator | str:
    match options.scaling:
        case "minmax":
            return MinMaxScaler()
        case "standard":
            return StandardScaler()
        case "maxabs":
            return MaxAbsScaler()
        case "robust":
            return RobustScaler()
        case "none":
            return "passthrough"


def _selector(options: PipelineOptions, seed: int) -> BaseEstimator | str:
    match options.selection:
        case "none":
            return "passthrough"
        case "variance":
            return VarianceThreshold(threshold=options.variance_threshold)
        case "univariate":
            return SelectKBest(f_classif, k=options.k)
        case "rfe":
            return RFE(LogisticRegression(max_iter=1000), n_features_to_select=options.k, step=2)
        case "model":
            trees = ExtraTreesClassifier(n_estimators=50, max_depth=6, random_state=seed, n_jobs=1)
            return SelectFromModel(trees, threshold=options.importance_threshold)


def _model(algorithm: Algorithm, seed: int) -> BaseEstimator:
    match algorithm:
        case "logistic_regression":
            return LogisticRegression(C=1.0, max_iter=2000)
        case "random_forest":
            return RandomForestClassifier(n_estimators=100, max_depth=8, min_samples_leaf=2, random_state=seed,
                                          n_jobs=1)
        case "gradient_boosting":
            return GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, subsample=0.8,
                                              random_state=seed)
        case "mlp":
            # no early stopping: its 10 % validation split starves the small sets a site starts with
            return MLPClassifier(hidden_layer_sizes=(32, 16), alpha=1e-2, max_iter=1000, random_state=seed)
    raise ValueError(f"unknown algorithm {algorithm!r}; one of {list(ALGORITHMS)}")

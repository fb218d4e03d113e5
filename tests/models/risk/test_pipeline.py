"""The preprocessing pipeline: step names, what each missing-value option does, every combination fits."""
from __future__ import annotations

import warnings
from typing import get_args

import numpy as np
import pytest
from joblib import Memory
from pydantic import ValidationError
from sklearn.exceptions import ConvergenceWarning

from models.risk.features import FEATURES
from models.risk.pipeline import (
    ALGORITHMS,
    STEPS,
    Missing,
    PipelineOptions,
    Scaling,
    Selection,
    build_pipeline,
    fit_pipeline,
    training_rows,
)
from tests.models.risk.small import small_examples

X, Y = small_examples()
# Smaller ensembles and fewer rounds than shipped, so all 700 combinations fit in seconds: the
# estimators and their order are the real ones, only their sizes shrink. The fitted preprocessing
# steps are cached (the pipeline's own ``memory``), so the four algorithms after the same
# imputer, scaler and selector fit those once.
SHRINK = {
    "random_forest": {"model__n_estimators": 4},
    "gradient_boosting": {"model__n_estimators": 4},
    "mlp": {"model__max_iter": 20},
    "logistic_regression": {},
}


@pytest.fixture(scope="module")
def fitted_steps(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    return Memory(tmp_path_factory.mktemp("fitted-steps"), verbose=0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("selection", get_args(Selection))
@pytest.mark.parametrize("scaling", get_args(Scaling))
@pytest.mark.parametrize("missing", get_args(Missing))
def test_every_combination_builds_and_fits(missing: str, scaling: str, selection: str, algorithm: str,
                                          fitted_steps: Memory) -> None:
    options = PipelineOptions(missing=missing, scaling=scaling, selection=selection, k=31,  # type: ignore[arg-type]
                              iterative_max_iter=1)
    pipeline = build_pipeline(options, algorithm, seed=0)  # type: ignore[arg-type]
    assert [name for name, _ in pipeline.steps] == list(STEPS)
    assert (pipeline.named_steps["scale"] == "passthrough") == (scaling == "none")
    assert (pipeline.named_steps["select"] == "passthrough") == (selection == "none")
    pipeline.set_params(memory=fitted_steps, **SHRINK[algorithm])
    if selection == "model":
        pipeline.set_params(select__estimator__n_estimators=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 20 MLP epochs do not converge, by design here
        warnings.simplefilter("ignore", RuntimeWarning)  # f_classif on the all-missing (constant) column
        warnings.filterwarnings("ignore", "Features .* are constant", UserWarning)
        pipeline.fit(*training_rows(options, X, Y))
    p = pipeline.predict_proba(X)[:, 1]  # rows with NaN too
    assert p.shape == (len(X),) and np.isfinite(p).all() and ((0.0 <= p) & (p <= 1.0)).all()


def test_drop_trains_on_complete_rows_and_imputes_the_training_median() -> None:
    options = PipelineOptions(missing="drop")
    kept_X, kept_y = training_rows(options, X, Y)
    complete = ~np.isnan(np.delete(X, 7, axis=1)).any(axis=1)  # column 7 has no value anywhere: it cannot drop rows
    assert len(kept_X) == complete.sum() < len(X)
    pipeline = fit_pipeline(options, "logistic_regression", 0, X, Y)
    imputer = pipeline.named_steps["impute"]
    assert type(imputer).__name__ == "SimpleImputer" and imputer.strategy == "median"
    np.testing.assert_allclose(np.delete(imputer.statistics_, 7), np.median(np.delete(X[complete], 7, axis=1), axis=0),
                               rtol=1e-6)
    row = np.full((1, len(FEATURES)), np.nan, dtype=np.float32)  # a window with no sensor at all still scores
    assert np.isfinite(pipeline.predict_proba(row)).all()
    with pytest.raises(ValueError, match="after dropping rows with missing values"):
        training_rows(options, np.where(np.arange(len(X))[:, None] < len(X) - 3, np.nan, X), Y)


@pytest.mark.parametrize("missing", ["mean", "median", "most_frequent", "constant", "knn", "iterative"])
def test_each_imputer_fills_every_missing_value_and_keeps_the_width(missing: str) -> None:
    options = PipelineOptions(missing=missing, fill_value=-7.0, scaling="none")  # type: ignore[arg-type]
    pipeline = fit_pipeline(options, "logistic_regression", 0, X, Y)
    imputer = pipeline.named_steps["impute"]
    expected = {"knn": "KNNImputer", "iterative": "IterativeImputer"}.get(missing, "SimpleImputer")
    assert type(imputer).__name__ == expected
    filled = imputer.transform(X)
    assert filled.shape == X.shape and np.isfinite(filled).all()  # the all-missing column keeps its place
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(filled[observed], X[observed])
    if missing == "constant":
        assert (filled[~observed] == -7.0).all()
    if missing == "mean":
        np.testing.assert_allclose(filled[np.isnan(X[:, 3]), 3], np.nanmean(X[:, 3]), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:Features .* are constant", "ignore:invalid value encountered in divide")
def test_selection_keeps_k_features() -> None:  # (the all-missing column is constant: f_classif says so)
    for selection in ("univariate", "rfe"):
        pipeline = fit_pipeline(PipelineOptions(selection=selection, k=5), "logistic_regression", 0, X, Y)
        assert pipeline.named_steps["select"].get_support().sum() == 5


def test_models_stay_small_enough_for_an_edge_device() -> None:
    forest = build_pipeline(PipelineOptions(), "random_forest", 0).named_steps["model"]
    assert forest.n_estimators <= 100 and forest.max_depth <= 8
    boosting = build_pipeline(PipelineOptions(), "gradient_boosting", 0).named_steps["model"]
    assert type(boosting).__name__ == "GradientBoostingClassifier" and boosting.n_estimators <= 100
    assert sum(build_pipeline(PipelineOptions(), "mlp", 0).named_steps["model"].hidden_layer_sizes) <= 64


def test_bad_options_and_inputs_are_named() -> None:
    with pytest.raises(ValidationError, match="scalling"):
        PipelineOptions(scalling="standard")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="missing"):
        PipelineOptions(missing="zero")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=f"more than the {len(FEATURES)} features"):
        PipelineOptions(k=len(FEATURES) + 1)
    with pytest.raises(ValueError, match="unknown algorithm 'svm'"):
        build_pipeline(PipelineOptions(), "svm", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="X must be"):
        fit_pipeline(PipelineOptions(), "logistic_regression", 0, X[:, :5], Y)
    with pytest.raises(ValueError, match="both classes"):
        fit_pipeline(PipelineOptions(), "logistic_regression", 0, X, np.zeros(len(X)))

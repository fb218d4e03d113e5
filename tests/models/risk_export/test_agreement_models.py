"""Every model type with every scaler: ONNX and TFLite score like sklearn within 1e-4."""
from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from .agreement import assert_agree
from .pipelines import dataset, fitted

MODELS = {
    "logistic": lambda: LogisticRegression(max_iter=200),
    "forest": lambda: RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0),
    "boosting": lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
    "mlp-relu": lambda: MLPClassifier((8, 4), max_iter=150, random_state=0),
    "mlp-tanh": lambda: MLPClassifier((6,), activation="tanh", max_iter=150, random_state=0),
}
SCALERS = {
    "none": lambda: "passthrough", "minmax": MinMaxScaler, "standard": StandardScaler,
    "maxabs": MaxAbsScaler, "robust": RobustScaler,
}


@pytest.mark.parametrize("scaler", SCALERS)
@pytest.mark.parametrize("model", MODELS)
def test_every_model_with_every_scaler(model: str, scaler: str, tmp_path: Path) -> None:
    pipe = fitted(MODELS[model](), scale=SCALERS[scaler]())
    assert_agree(pipe, tmp_path, dataset(rows=200, seed=7)[0])

"""A small learnable feature matrix for the fast pipeline tests."""
from __future__ import annotations

import numpy as np

from models.risk.features import FEATURES


def small_examples(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small learnable set with NaNs scattered in, a column missing everywhere, and complete rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int8)
    holes = rng.random(X.shape) < 0.08
    holes[: n // 2] = False  # half the rows stay complete, so 'drop' has rows to train on
    X[holes] = np.nan
    X[:, 7] = np.nan  # a sensor no example has
    return X, y

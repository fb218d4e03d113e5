"""Small fitted risk pipelines, built with scikit-learn directly, as the trainer's would be."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

N_FEATURES = 6


def dataset(
    rows: int = 240, seed: int = 0, missing: float = 0.0, *, raw_scales: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows with a non-linear label (so trees and MLPs have something to learn), optional NaN share.

    ``raw_scales``: columns with different offsets and spreads, as raw sensor features have (what the
    scalers are for); off, every column is standard normal.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    if raw_scales:
        x = x * [1, 2, 0.5, 3, 1, 10] + [0, 1, -2, 5, 0, 50]
    x = x.astype(np.float32)
    y = ((x[:, 0] + x[:, 1] * x[:, 2] / 2 + rng.normal(size=rows) * 0.7) > 0).astype(int)
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
    return x, y


def fitted(model: object, impute: object = "passthrough", scale: object = "passthrough",
           select: object = "passthrough", data: tuple[np.ndarray, np.ndarray] | None = None) -> Pipeline:
    x, y = data if data is not None else dataset()
    pipe = Pipeline([("impute", impute), ("scale", scale), ("select", select), ("model", model)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # small data, few iterations: fast, not converged
        return pipe.fit(x, y)

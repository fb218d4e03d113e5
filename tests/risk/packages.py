"""Real signed risk packages on the edge's own feature set, made by the trainer's packager.

The label follows the window's mean heart rate: high is a real alarm. ``inverted``
learns the opposite, the worse candidate a shadow run must catch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.risk.features import FEATURES
from models.risk.packaging import package_risk_model
from models.risk.targets import PROFILES

NAME = "siteguard-risk"
HR = FEATURES.index("hr_mean")


def data(rows: int = 300, seed: int = 0, *, inverted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.full((rows, len(FEATURES)), np.nan, np.float32)
    x[:, HR] = rng.normal(110, 25, rows)
    x[:, FEATURES.index("hr_max")] = x[:, HR] + 10
    y = (x[:, HR] + rng.normal(0, 5, rows) > 110).astype(int)
    return x, (1 - y if inverted else y)


def package(into: Path, private_key: bytes, version: str, *, inverted: bool = False) -> Path:
    x, y = data(inverted=inverted)
    pipeline = Pipeline([("impute", SimpleImputer(keep_empty_features=True)), ("scale", StandardScaler()),
                         ("select", "passthrough"), ("model", LogisticRegression())]).fit(x, y)
    root = into / f"{NAME}-{version}"
    package_risk_model(pipeline, len(FEATURES), FEATURES, root, name=NAME, version=version, parent_version=None,
                       run_id=f"run-{version}", metrics={}, signing_key=private_key, profiles=[PROFILES["x86"]],
                       holdout=data(120, seed=1, inverted=inverted))
    return root

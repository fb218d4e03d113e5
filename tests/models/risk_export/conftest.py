"""One small fitted forest exported to both formats, shared by the cost, compatibility and packaging tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.risk.export import export_onnx, export_tflite

from .pipelines import N_FEATURES, fitted


@dataclass(frozen=True)
class Exported:
    pipeline: Pipeline
    onnx: Path
    tflite: Path

    def path(self, fmt: str) -> Path:
        return self.onnx if fmt == "onnx" else self.tflite


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("risk-artifacts")
    pipe = fitted(RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), impute=SimpleImputer(),
                  scale=StandardScaler())
    return Exported(pipe, export_onnx(pipe, N_FEATURES, root / "risk.onnx"),
                    export_tflite(pipe, N_FEATURES, root / "risk.tflite"))

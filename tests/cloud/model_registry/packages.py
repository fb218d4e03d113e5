"""Real signed packages for the registry tests: the shipped camera model re-versioned and signed with a
throw-away key, a small risk pipeline packaged by the trainer's packager, archives of them, a VGA JPEG of a rendered site scene."""
from __future__ import annotations

import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.camera.render import render_scene
from models.camera.scene import PersonSpec
from models.package import Manifest, sign_package, write_manifest
from models.risk.packaging import package_risk_model
from models.risk.targets import PROFILES
from models.signing import key_id, private_key, public_key

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "models" / "camera" / "default"
CAMERA = "siteguard-ppe-detector"
RISK = "siteguard-risk"
RISK_FEATURES = ("hr_mean", "hr_slope", "gas_max", "still_s")


@dataclass(frozen=True)
class Signer:
    private: bytes

    @property
    def public(self) -> bytes:
        return public_key(self.private)

    @property
    def trusted(self) -> dict[str, bytes]:
        return {key_id(self.public): self.public}

    @classmethod
    def new(cls) -> Signer:
        return cls(private_key(None)[0])


def camera_package(into: Path, signer: Signer, version: str, *, parent: str | None = None,
                   run_id: str | None = None, artifacts: tuple[str, ...] = ("model_fp32.tflite",)) -> Path:
    """The shipped camera model as ``version`` (only ``artifacts`` of it, to keep copies small), signed."""
    shipped = Manifest.model_validate_json((DEFAULT / "manifest.json").read_bytes())
    root = into / f"{CAMERA}-{version}"
    root.mkdir(parents=True)
    for name in artifacts:
        shutil.copyfile(DEFAULT / name, root / name)
    manifest = shipped.model_copy(update={
        "version": version, "parent_version": parent, "training_run_id": run_id or f"run-{version}",
        "artifacts": tuple(a for a in shipped.artifacts if a.path in artifacts),
    })
    write_manifest(root, manifest)
    sign_package(root, signer.private)
    return root


def risk_data(rows: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows of the four features (a few values missing) and a label that depends on them."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(rows, 4)) * [10, 1, 5, 60] + [90, 0, 10, 120]).astype(np.float32)
    y = ((x[:, 0] - 90) / 10 + x[:, 1] + rng.normal(size=rows) * 0.5 > 0).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x, y


def risk_pipeline() -> Pipeline:
    """A fitted scikit-learn risk pipeline with the trainer's steps (impute, scale, select, model)."""
    x, y = risk_data()
    return Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler()), ("select", "passthrough"),
                     ("model", LogisticRegression())]).fit(x, y)


def risk_package(into: Path, signer: Signer, pipeline: Pipeline, version: str = "1.0.0") -> Path:
    """``pipeline`` packaged by the trainer's own packager (ONNX and TFLite, holdout metrics), signed."""
    root = into / f"{RISK}-{version}"
    package_risk_model(pipeline, len(RISK_FEATURES), RISK_FEATURES, root, name=RISK, version=version,
                       parent_version=None, run_id="risk-run-1", metrics={}, signing_key=signer.private,
                       profiles=[PROFILES["x86"]], holdout=risk_data(80, seed=1))
    return root


def tar_of(root: Path, into: Path | None = None) -> Path:
    path = (into or root.parent) / f"{root.name}.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(root, arcname=root.name)
    return path


def tar_bytes(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(root, arcname=root.name)
    return buffer.getvalue()


def site_jpeg(seed: int = 3) -> bytes:
    """A 640x480 JPEG of a rendered site scene with three workers, one without a helmet."""
    people = [PersonSpec(x=120 + 200 * i, y=300 + 40 * i, height=190 + 30 * i, pose="standing", helmet=i != 1,
                         vest=True, appearance=i) for i in range(3)]
    image = render_scene(people, width=640, height=480, seed=seed)[0]
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()

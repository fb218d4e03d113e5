"""A fitted risk pipeline as a signed model package: artifacts, manifest, metrics of the compiled artifacts.

The accuracy a package claims is the accuracy of the files it ships: every
artifact is run on the holdout in its own runtime and its average precision
and ROC AUC go into the manifest next to the float model's, and the
signature covers them. An artifact that disagrees with the float model
(:func:`.agreement.disagreement`: a few rows may sit on a tree threshold
that float32 preprocessing rounds across, no more) fails the packaging. The package is
read back with :func:`models.package.load_package` before it is returned, so
what leaves here verifies.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline

from models.package import (
    MANIFEST,
    SIGNATURE,
    Artifact,
    Manifest,
    ModelPackage,
    TensorSpec,
    load_package,
    sha256_file,
    sign_package,
    write_manifest,
)
from models.signing import PUBLIC_KEY_FILE, key_id, public_key, write_public_key

from .agreement import disagreement
from .artifact_runtime import open_artifact
from .export import export_onnx, export_tflite
from .export_spec import INPUT_NAME, OUTPUT_NAME, ExportError
from .targets import TargetProfile

ARTIFACT_FILES = {"onnx": "risk.onnx", "tflite": "risk.tflite"}
LABELS = ("negative", "positive")
"""Class 0 and class 1; ``probability`` is the positive class's."""
MEASURED_PREFIXES = ("float.", "onnx.", "tflite.", "holdout.")
"""Metric names :func:`holdout_metrics` writes; the caller's metrics may not use them."""


class PackagingError(ValueError):
    """Bad input to packaging, or an artifact that does not reproduce the model it came from."""


def package_risk_model(
    pipeline: Pipeline, n_features: int, feature_names: Sequence[str], out_dir: Path, *, name: str, version: str,
    parent_version: str | None, run_id: str, metrics: Mapping[str, float], signing_key: bytes,
    profiles: Sequence[TargetProfile], holdout: tuple[np.ndarray, np.ndarray],
) -> ModelPackage:
    """Export, evaluate, describe, sign and verify ``pipeline`` into the empty (or new) ``out_dir``.

    ONNX is always written; TFLite when the pipeline has a TFLite form.
    Raises :class:`ExportError` when a TFLite profile is asked for a
    pipeline without one, :class:`PackagingError` for bad input or an
    artifact that disagrees with the pipeline.
    """
    _check_input(n_features, feature_names, out_dir, profiles, holdout, metrics)
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write(pipeline, n_features, tuple(feature_names), out, name=name, version=version,
                      parent_version=parent_version, run_id=run_id, metrics=metrics, signing_key=signing_key,
                      profiles=profiles, holdout=holdout)
    except BaseException:
        for leftover in [*ARTIFACT_FILES.values(), MANIFEST, SIGNATURE, PUBLIC_KEY_FILE]:
            (out / leftover).unlink(missing_ok=True)
        if created:
            out.rmdir()
        raise


def _write(pipeline: Pipeline, n_features: int, feature_names: tuple[str, ...], out: Path, *, name: str,
           version: str, parent_version: str | None, run_id: str, metrics: Mapping[str, float], signing_key: bytes,
           profiles: Sequence[TargetProfile], holdout: tuple[np.ndarray, np.ndarray]) -> ModelPackage:
    files = {"onnx": export_onnx(pipeline, n_features, out / ARTIFACT_FILES["onnx"])}
    try:
        files["tflite"] = export_tflite(pipeline, n_features, out / ARTIFACT_FILES["tflite"])
    except ExportError as exc:
        wanting = [p.name for p in profiles if p.runtime == "tflite"]
        if wanting:
            raise ExportError(f"profiles {', '.join(wanting)} run TFLite, which this pipeline cannot be: {exc}") from None
    manifest = Manifest(
        name=name, version=version, parent_version=parent_version, task="risk", labels=LABELS,
        features=feature_names,
        inputs=(TensorSpec(name=INPUT_NAME, shape=(-1, n_features), dtype="float32"),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(-1,), dtype="float32"),),
        metrics=dict(sorted({**metrics, **holdout_metrics(pipeline, files, holdout)}.items())),
        training_run_id=run_id, created=datetime.now(UTC).isoformat(timespec="seconds"),
        artifacts=tuple(
            Artifact(path=path.name, format=fmt, precision="fp32", target=_targets(fmt, profiles), sha256=sha256_file(path))
            for fmt, path in files.items()
        ),
    )
    write_manifest(out, manifest)
    sign_package(out, signing_key)
    public = public_key(signing_key)
    write_public_key(out / PUBLIC_KEY_FILE, public)
    return load_package(out, trusted_keys={key_id(public): public})


def holdout_metrics(
    pipeline: Pipeline, files: Mapping[str, Path], holdout: tuple[np.ndarray, np.ndarray],
) -> dict[str, float]:
    """AP and ROC AUC of the float pipeline and of each artifact in its runtime, and their agreement.

    Keys: ``float.ap``, ``float.auc``, ``<format>.ap``, ``<format>.auc``,
    ``<format>.max_abs_diff``, ``holdout.rows``, ``holdout.positives``.
    """
    x, y = np.asarray(holdout[0], np.float32), np.asarray(holdout[1])
    reference = pipeline.predict_proba(x)[:, 1]
    out = {"holdout.rows": float(len(y)), "holdout.positives": float(np.sum(y == 1)),
           "float.ap": float(average_precision_score(y, reference)), "float.auc": float(roc_auc_score(y, reference))}
    for fmt, path in files.items():
        scores = open_artifact(path, fmt)(x)  # type: ignore[arg-type]
        off = np.abs(scores.astype(np.float64) - reference)
        if problem := disagreement(scores, reference):
            raise PackagingError(f"{path.name} on the holdout against the pipeline: {problem}")
        out |= {f"{fmt}.ap": float(average_precision_score(y, scores)), f"{fmt}.auc": float(roc_auc_score(y, scores)),
                f"{fmt}.max_abs_diff": float(off.max())}
    return out


def _targets(fmt: str, profiles: Sequence[TargetProfile]) -> str:
    """The profiles an artifact is for, comma-separated; ``cpu`` (generic) when none runs its format."""
    names = sorted({p.name for p in profiles if p.runtime == fmt})
    return ",".join(names) or "cpu"


def _check_input(n_features: int, feature_names: Sequence[str], out_dir: Path, profiles: Sequence[TargetProfile],
                 holdout: tuple[np.ndarray, np.ndarray], metrics: Mapping[str, float]) -> None:
    clash = sorted(k for k in metrics if k.startswith(MEASURED_PREFIXES))
    if clash:
        raise PackagingError(f"metrics {clash} are measured here on the holdout; pass them under other names")
    names = list(feature_names)
    if len(names) != n_features or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise PackagingError(f"feature_names must be {n_features} distinct non-empty names, got {len(names)}")
    if not profiles:
        raise PackagingError("no target profiles: a package is built for at least one")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackagingError(f"{out}: the package directory must be new or empty")
    x, y = holdout
    if np.ndim(x) != 2 or np.shape(x)[1] != n_features or len(x) != len(y):
        raise PackagingError(f"holdout must be X of shape (rows, {n_features}) and y with one label per row")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise PackagingError("holdout labels must hold both classes 0 and 1 (AP and AUC need both)")

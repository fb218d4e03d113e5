"""A fitted risk pipeline as a signed model package: artifacts, manifest, metrics of the compiled artifacts.

The accuracy a package claims is the accuracy of the files it ships: the
artifacts are built per target profile by :mod:`models.build` (ONNX; TFLite
fp32 and, with calibration rows, int8 for Raspberry Pi profiles), each run on
the holdout in its own runtime and checked against the float pipeline —
scores within tolerance (:func:`.agreement.disagreement` for float
artifacts: a few rows may sit on a tree threshold that float32 preprocessing
rounds across, no more) and recall on confirmed alarms within the margin.
A refused artifact is left out; a profile left with nothing it can run fails
the packaging (:class:`~models.build.builder.BuildRefused`). Each shipped
artifact's check and its average precision and ROC AUC go into the manifest
next to the float model's, and the signature covers them. The package is
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

from models.build.builder import BuildReport, build
from models.build.check import DEFAULT_MARGIN
from models.build.targets import BuildTarget
from models.package import (
    MANIFEST,
    SIGNATURE,
    Artifact,
    Manifest,
    ModelPackage,
    TensorSpec,
    load_package,
    sign_package,
    write_manifest,
)
from models.signing import PUBLIC_KEY_FILE, key_id, public_key, write_public_key

from .artifact_runtime import open_artifact
from .build import FILES, RiskFamily
from .export_spec import INPUT_NAME, OUTPUT_NAME, ExportError
from .targets import TargetProfile

LABELS = ("negative", "positive")
"""Class 0 and class 1; ``probability`` is the positive class's."""
MEASURED_PREFIXES = ("float.", "onnx.", "tflite.", "tflite_int8.", "holdout.")
"""Metric names :func:`holdout_metrics` writes; the caller's metrics may not use them."""


class PackagingError(ValueError):
    """Bad input to packaging, or an artifact that does not reproduce the model it came from."""


def package_risk_model(
    pipeline: Pipeline, n_features: int, feature_names: Sequence[str], out_dir: Path, *, name: str, version: str,
    parent_version: str | None, run_id: str, metrics: Mapping[str, float], signing_key: bytes,
    profiles: Sequence[TargetProfile], holdout: tuple[np.ndarray, np.ndarray], threshold: float = 0.5,
    calibration: np.ndarray | None = None, recall_margin: float = DEFAULT_MARGIN,
) -> ModelPackage:
    """Build, evaluate, describe, sign and verify ``pipeline`` into the empty (or new) ``out_dir``.

    ``threshold`` is the pipeline's decision threshold (recall is counted at
    it); ``calibration`` (training rows) adds the int8 TFLite for Raspberry Pi
    profiles. Raises :class:`ExportError` when a TFLite profile is asked for a
    pipeline without one, :class:`BuildRefused` when a profile's artifacts
    were all refused, :class:`PackagingError` for bad input.
    """
    return build_risk_package(pipeline, n_features, feature_names, out_dir, name=name, version=version,
                              parent_version=parent_version, run_id=run_id, metrics=metrics, signing_key=signing_key,
                              profiles=profiles, holdout=holdout, threshold=threshold, calibration=calibration,
                              recall_margin=recall_margin)[0]


def build_risk_package(
    pipeline: Pipeline, n_features: int, feature_names: Sequence[str], out_dir: Path, *, name: str, version: str,
    parent_version: str | None, run_id: str, metrics: Mapping[str, float], signing_key: bytes,
    profiles: Sequence[TargetProfile], holdout: tuple[np.ndarray, np.ndarray], threshold: float = 0.5,
    calibration: np.ndarray | None = None, recall_margin: float = DEFAULT_MARGIN,
) -> tuple[ModelPackage, BuildReport]:
    """:func:`package_risk_model`, with the build's report: what shipped, and what was refused and why."""
    _check_input(n_features, feature_names, out_dir, profiles, holdout, metrics)
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        family = RiskFamily(pipeline, n_features, holdout, threshold, calibration)
        report = build(family, [BuildTarget(p.name, tflite=p.runtime == "tflite") for p in profiles], out,
                       margin=recall_margin, int8=calibration is not None)
        _require_every_profile(report)
        return _write(family, tuple(feature_names), out, report, name=name, version=version,
                      parent_version=parent_version, run_id=run_id, metrics=metrics, signing_key=signing_key), report
    except BaseException:
        for leftover in [*FILES.values(), MANIFEST, SIGNATURE, PUBLIC_KEY_FILE]:
            (out / leftover).unlink(missing_ok=True)
        if created:
            out.rmdir()
        raise


def _require_every_profile(report: BuildReport) -> None:
    """A Pi profile given a pipeline with no TFLite form is an :class:`ExportError`; any other gap BuildRefused."""
    uncovered = report.uncovered()
    if uncovered and all(r.stage == "export" and r.format == "tflite" for refused in uncovered.values() for r in refused):
        reasons = "; ".join(dict.fromkeys(r.reason for refused in uncovered.values() for r in refused))
        raise ExportError(f"profiles {', '.join(sorted(uncovered))} run TFLite, which this pipeline cannot be: {reasons}")
    report.require_every_profile()


def _write(family: RiskFamily, feature_names: tuple[str, ...], out: Path, report: BuildReport, *, name: str,
           version: str, parent_version: str | None, run_id: str, metrics: Mapping[str, float],
           signing_key: bytes) -> ModelPackage:
    manifest = Manifest(
        name=name, version=version, parent_version=parent_version, task="risk", labels=LABELS,
        features=feature_names,
        inputs=(TensorSpec(name=INPUT_NAME, shape=(-1, family.n_features), dtype="float32"),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(-1,), dtype="float32"),),
        metrics=dict(sorted({**metrics, **holdout_metrics(family, out, report.artifacts())}.items())),
        training_run_id=run_id, created=datetime.now(UTC).isoformat(timespec="seconds"),
        artifacts=report.artifacts(), checks=report.checks(), device_builds=tuple(report.device_builds),
    )
    write_manifest(out, manifest)
    sign_package(out, signing_key)
    public = public_key(signing_key)
    write_public_key(out / PUBLIC_KEY_FILE, public)
    return load_package(out, trusted_keys={key_id(public): public})


def holdout_metrics(family: RiskFamily, root: Path, artifacts: Sequence[Artifact]) -> dict[str, float]:
    """AP and ROC AUC of the float pipeline and of each artifact in its runtime, and their largest difference.

    Keys: ``float.ap``, ``float.auc``, ``<kind>.ap``, ``<kind>.auc``,
    ``<kind>.max_abs_diff`` (kind ``onnx``, ``tflite`` or ``tflite_int8``),
    ``holdout.rows``, ``holdout.positives``.
    """
    x, y, reference = family.x, family.y, family.scores
    out = {"holdout.rows": float(len(y)), "holdout.positives": float(np.sum(y == 1)),
           "float.ap": float(average_precision_score(y, reference)), "float.auc": float(roc_auc_score(y, reference))}
    for artifact in artifacts:
        scores = open_artifact(root / artifact.path, artifact.format)(x)  # type: ignore[arg-type]
        kind = artifact.format if artifact.precision == "fp32" else f"{artifact.format}_{artifact.precision}"
        out |= {f"{kind}.ap": float(average_precision_score(y, scores)), f"{kind}.auc": float(roc_auc_score(y, scores)),
                f"{kind}.max_abs_diff": float(np.abs(scores.astype(np.float64) - reference).max())}
    return out


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

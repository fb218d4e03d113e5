"""The ``risk`` pipeline kind: the sensor risk model, from synced verdicts to a signed candidate (docs/trainer.md).

Steps, each a job state the console shows:

- **preprocessing**: read the run's rows (:mod:`.risk_data`), stop the run
  when schema or value skew is beyond the pipeline's threshold (data
  validation), build the labelled examples and split off a held-out set.
- **training**: cross-validate every candidate algorithm with the pipeline's
  preprocessing, measure each fitted candidate's exported artifact (latency,
  memory) for every target profile, recommend per profile by the weights
  between accuracy and cost, and fit the winner on the training split.
- **evaluating**: the gate, on the held-out set, against the registry's
  ``champion`` (overall and per segment; never lower recall on confirmed
  alarms for any alarm kind).
- **packaging**: the build per target profile (:mod:`models.build`: ONNX
  always; TFLite fp32 and int8, calibrated on the training split, where a
  profile runs TFLite), every artifact checked against the float pipeline on
  the held-out split (scores within tolerance, recall on confirmed alarms
  within ``build_recall_margin``) and a refused one left out with its reason;
  a profile left with nothing it can run stops the run. Then the compiled
  artifacts' own metrics in the manifest, a compatibility and load test per
  target profile, signed, registered, and aliased ``candidate``.

A refused gate or failed validation ends the run at once with the reason
(:class:`~cloud_sync.training.errors.StepRefused`): retrying cannot change it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Optional, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from cloud_sync.model_registry import ModelNotFound, ModelRegistry
from cloud_sync.model_registry.config import RegistryConfig
from cloud_sync.registry.profile import HardwareProfile
from cloud_sync.registry.tables import devices
from cloud_sync.rollout.records import RolloutPlan
from cloud_sync.training.context import RunContext
from cloud_sync.training.errors import StepRefused
from cloud_sync.training.kinds import register_kind
from models.build.builder import BuildRefused
from models.build.check import DEFAULT_MARGIN
from models.package import load_package
from models.risk.candidates import RECALL_FLOOR, cross_validate_candidates
from models.risk.compat import check_artifact
from models.risk.cost import for_profile, measure
from models.risk.examples import Examples, alarm_examples, risk_examples
from models.risk.export import export_onnx, export_tflite
from models.risk.export_spec import ExportError
from models.risk.features import FEATURES
from models.risk.gates import validate_candidate
from models.risk.packaging import build_risk_package
from models.risk.pipeline import ALGORITHMS, Algorithm, PipelineOptions, fit_pipeline
from models.risk.recommend import MeasuredCost, Weights, recommend
from models.risk.targets import PROFILES, TargetProfile, profile_for

from . import risk_data
from .rollout_step import start_rollout

CHAMPION, CANDIDATE = "champion", "candidate"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=_Named)


class RiskOptions(BaseModel):
    """A risk pipeline's options (``PUT /api/v1/training/pipelines/{name}``): a misspelt key is refused."""

    model_config = ConfigDict(extra="forbid")
    model_name: str = Field("risk", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the registry name it trains")
    target: Literal["alarm_real", "risk_rising"] = "alarm_real"
    preprocessing: PipelineOptions = PipelineOptions()
    algorithms: list[Algorithm] = Field(default_factory=lambda: list(ALGORITHMS), min_length=1)
    folds: int = Field(3, ge=2, le=10)
    holdout_fraction: float = Field(0.25, gt=0.05, lt=0.6)
    accuracy_weight: float = Field(0.8, ge=0, le=1, description="against 1 - this for inference cost")
    profiles: Optional[list[str]] = Field(
        None, description=f"target profiles ({', '.join(PROFILES)}); none: those of the registered devices")
    max_skew_fraction: float = Field(0.05, ge=0, le=1, description="data validation: the most rows of a table "
                                     "that may carry schema-skew flags before the run stops")
    min_examples: int = Field(40, ge=10)
    negatives_per_positive: int = Field(2, ge=1, le=20, description="risk_rising: alarm-free windows per positive")
    recall_floor: float = Field(RECALL_FLOOR, gt=0.5, le=1.0, description="the least recall on confirmed alarms "
                                "a candidate must reach (cross-validated, then on the held-out split)")
    gate_min_segment: int = Field(30, ge=1)
    gate_tolerance: float = Field(0.02, ge=0, le=0.5)
    build_recall_margin: float = Field(DEFAULT_MARGIN, ge=0, lt=0.5, description="the most recall on confirmed "
                                       "alarms a compiled artifact may lose against the float pipeline on the "
                                       "held-out split before its build is refused")
    rollout: Optional[RolloutPlan] = Field(None, description="start a rollout of each registered candidate to these "
                                           "targets (canaries first); none: the candidate waits for an admin")
    seed: int = 0
    drill_shuffle_labels: bool = Field(False, description="a drill: shuffle the training split's labels (the held-out "
                                       "split keeps the true ones) to prove the gate stops a worse model")


# -- steps ---------------------------------------------------------------------------------------

def preprocessing(ctx: RunContext) -> None:
    options: RiskOptions = ctx.options  # type: ignore[assignment]
    ctx.progress(0.05, "reading alarms, verdicts and readings")
    rows = risk_data.load(ctx.engine)
    ctx.data_snapshot_id = rows.snapshot_id
    _validate_data(ctx, rows.flagged, options.max_skew_fraction)
    ctx.progress(0.5, f"building examples from {len(rows.alarms)} alarms and {len(rows.readings['ts'])} readings")
    examples = _examples(rows, options)
    y = examples.y
    if len(examples) < options.min_examples or (y == 1).sum() < options.folds * 3 or (y == 0).sum() < options.folds * 3:
        raise StepRefused(f"data: {len(examples)} labelled examples ({int((y == 1).sum())} confirmed, "
                          f"{int((y == 0).sum())} false) are too few: the pipeline needs {options.min_examples}, "
                          f"with {options.folds * 3} of each")
    train, holdout = _split(examples, options.holdout_fraction, options.seed)
    if options.drill_shuffle_labels:
        train = replace(train, y=np.random.default_rng(options.seed).permutation(train.y))
        ctx.log("drill: the training labels are shuffled", "warning")
    ctx.scratch.update(train=train, holdout=holdout)
    ctx.reference = {name: train.X[:, i] for i, name in enumerate(FEATURES)}
    sites, counts = np.unique(examples.site.astype(str), return_counts=True)
    ctx.metrics.update(examples=len(examples), train=len(train), holdout=len(holdout),
                       examples_by_site={str(s): int(n) for s, n in zip(sites, counts)},
                       confirmed=int((y == 1).sum()), false_alarms=int((y == 0).sum()),
                       dropped=dict(examples.dropped))
    ctx.log(f"data snapshot {rows.snapshot_id}: {len(train)} training and {len(holdout)} held-out examples")


def training(ctx: RunContext) -> None:
    options: RiskOptions = ctx.options  # type: ignore[assignment]
    train: Examples = ctx.scratch["train"]
    profiles = _profiles(ctx.engine, options)
    ctx.progress(0.0, f"cross-validating {len(options.algorithms)} candidates")
    scores = cross_validate_candidates(train, options.preprocessing, options.algorithms, options.folds, options.seed,
                                       lambda f: ctx.progress(0.6 * f, "cross-validating candidates"),
                                       recall_floor=options.recall_floor)
    costs: dict[str, dict[str, MeasuredCost]] = {p.name: {} for p in profiles}
    fitted = {}
    for i, algorithm in enumerate(options.algorithms):
        ctx.progress(0.6 + 0.35 * i / len(options.algorithms), f"measuring {algorithm} on {len(profiles)} profiles")
        fitted[algorithm] = fit_pipeline(options.preprocessing, algorithm, options.seed, train.X, train.y)
        for profile, cost in _costs(fitted[algorithm], ctx.work_dir / algorithm, profiles).items():
            costs[profile][algorithm] = cost
    choice = recommend(scores, costs, Weights(options.accuracy_weight, 1.0 - options.accuracy_weight))
    winners = {p: choice.winner(p) for p in costs}
    chosen = _one_winner(winners, scores)
    ctx.scratch.update(pipeline=fitted[chosen], algorithm=chosen, profiles=profiles,
                       threshold=next(s.threshold for s in scores if s.algorithm == chosen))
    ctx.metrics.update(
        algorithm=chosen, candidates={s.algorithm: _score_dict(s) for s in scores},
        recommendation={p: {"winner": r.winner.algorithm if r.winner else None, "why": r.why,
                            "runners_up": [{"algorithm": x.algorithm, "score": round(x.score, 4)} for x in r.runners_up],
                            "excluded": dict(r.excluded)}
                        for p, r in choice.profiles.items()},
        costs={p: {a: {"latency_p99_ms": c.latency_p99_ms, "memory_mb": c.memory_mb} for a, c in by.items()}
               for p, by in costs.items()})
    for p, r in choice.profiles.items():
        ctx.log(f"{p}: {r.why}")


def evaluating(ctx: RunContext) -> None:
    options: RiskOptions = ctx.options  # type: ignore[assignment]
    holdout: Examples = ctx.scratch["holdout"]
    champion = _champion(ctx, options.model_name)
    ctx.progress(0.2, "gating against " + (f"champion {champion[0]}" if champion else "the recall floor (no champion)"))
    pipeline = ctx.scratch["pipeline"]
    result = validate_candidate(
        lambda X: pipeline.predict_proba(X)[:, 1], champion[1] if champion else None, holdout,
        options.gate_min_segment, options.gate_tolerance, candidate_threshold=ctx.scratch["threshold"],
        champion_threshold=champion[2] if champion else None, recall_floor=options.recall_floor)
    ctx.metrics["gate"] = {"passed": result.passed, "reasons": list(result.reasons), "overall": result.overall,
                           "champion": champion[0] if champion else None}
    if champion:
        ctx.parent_version = champion[0]
    if not result.passed:
        raise StepRefused("gate: " + "; ".join(result.reasons))
    ctx.log("gate passed: " + ", ".join(f"{k} {v:.3f}" for k, v in result.overall["candidate"].items()))


def packaging(ctx: RunContext) -> None:
    options: RiskOptions = ctx.options  # type: ignore[assignment]
    config = RegistryConfig.from_env(ctx.data_dir)
    if config.signing_key is None:
        raise StepRefused("packaging: the cloud has no signing key (set SITEGUARD_SIGNING_KEY or serve --signing-key)")
    registry = ModelRegistry(ctx.engine, config.store_dir)
    holdout: Examples = ctx.scratch["holdout"]
    profiles: list[TargetProfile] = ctx.scratch["profiles"]
    version = f"{int(ctx.clock())}.{ctx.job_id}"
    metrics = {"threshold": float(ctx.scratch["threshold"]),
               **{k: float(v) for k, v in ctx.metrics["gate"]["overall"]["candidate"].items()}}
    ctx.progress(0.1, f"building for {', '.join(p.name for p in profiles)}, checking each artifact, signing")
    try:
        package, report = build_risk_package(
            ctx.scratch["pipeline"], len(FEATURES), FEATURES, ctx.work_dir / "package", name=options.model_name,
            version=version, parent_version=ctx.parent_version, run_id=f"job-{ctx.job_id}", metrics=metrics,
            signing_key=config.signing_key, profiles=profiles, holdout=(holdout.X, holdout.y),
            threshold=float(ctx.scratch["threshold"]), calibration=ctx.scratch["train"].X,
            recall_margin=options.build_recall_margin)
    except BuildRefused as exc:
        raise StepRefused(f"build: {exc}") from None
    ctx.metrics["build"] = report.as_metrics()
    for refused in report.refused:
        ctx.log(f"build refused (the other artifacts ship): {refused.reason}", "warning")
    reports = _compat(package, profiles, ctx.scratch["pipeline"], holdout.X, ctx)
    ctx.metrics["compat"] = reports
    if failed := {p: r["reasons"] for p, r in reports.items() if not r["passed"]}:
        raise StepRefused(f"compatibility: {failed}")
    ctx.progress(0.9, "registering")
    registered = registry.register(package.root, config.trusted_keys, by=f"training job {ctx.job_id}",
                                   run_id=f"job-{ctx.job_id}", data_snapshot_id=ctx.data_snapshot_id)
    registry.set_alias(options.model_name, CANDIDATE, registered.version, by=f"training job {ctx.job_id}")
    ctx.result.update(model=registered.name, version=registered.version, alias=CANDIDATE)
    ctx.metrics["package"] = dict(package.manifest.metrics)
    ctx.log(f"registered {registered.name} {registered.version} as {CANDIDATE}")
    if options.rollout is not None:
        start_rollout(ctx, registry, "risk", options.rollout)


def drift_sample(engine: Engine, since: float) -> dict[str, np.ndarray]:
    """The features of the alarms raised after ``since`` (scored as the edge scores them): what drift compares."""
    rows = risk_data.load(engine)
    rows.alarms = [a for a in rows.alarms if a["raised_ts"] > since]
    verdicts = [{"alarm_id": a["alarm_id"], "verdict": "confirmed", "ts": 0.0} for a in rows.alarms]
    examples = alarm_examples(rows.alarms, verdicts, rows.readings, rows.roster, rows.site_of)
    return {name: examples.X[:, i] for i, name in enumerate(FEATURES)}


# -- helpers -------------------------------------------------------------------------------------

def _validate_data(ctx: RunContext, flagged: dict[str, tuple[int, int]], limit: float) -> None:
    shares = {table: (bad / total if total else 0.0, bad, total) for table, (bad, total) in flagged.items()}
    ctx.metrics["skew"] = {t: {"flagged": bad, "rows": total} for t, (_, bad, total) in shares.items()}
    over = [f"{t}: {bad} of {total} rows ({share:.1%}) carry schema-skew flags" for t, (share, bad, total)
            in shares.items() if share > limit]
    if over:
        raise StepRefused(f"data validation: {'; '.join(over)}, over the pipeline's {limit:.1%}")


def _examples(rows: risk_data.RiskRows, options: RiskOptions) -> Examples:
    if options.target == "alarm_real":
        return alarm_examples(rows.alarms, rows.verdicts, rows.readings, rows.roster, rows.site_of)
    return risk_examples(rows.alarms, rows.readings, rows.roster, np.random.default_rng(options.seed),
                         options.negatives_per_positive, site_of=rows.site_of, verdicts=rows.verdicts)


def _split(examples: Examples, fraction: float, seed: int) -> tuple[Examples, Examples]:
    """Stratified: each class keeps its share in both parts."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in (0, 1):
        index = np.flatnonzero(examples.y == label)
        rng.shuffle(index)
        held.append(index[:max(1, math.ceil(len(index) * fraction))])
    mask = np.zeros(len(examples), dtype=bool)
    mask[np.concatenate(held)] = True
    return examples.take(np.flatnonzero(~mask)), examples.take(np.flatnonzero(mask))


def _profiles(engine: Engine, options: RiskOptions) -> list[TargetProfile]:
    return target_profiles(engine, options.profiles, PROFILES, lambda hw: profile_for(
        hw.cpu_arch, hw.accelerator, hw.runtimes.model_dump(), hw.memory_mb), [PROFILES["x86"]])


def target_profiles(engine: Engine, names: list[str] | None, known: Mapping[str, P],
                    of_device: Callable[[HardwareProfile], P], default: list[P]) -> list[P]:
    """The profiles ``names`` asks for, else one per kind of registered device (first of each name), else ``default``."""
    if names:
        unknown = [p for p in names if p not in known]
        if unknown:
            raise StepRefused(f"options: unknown target profiles {unknown} (known: {', '.join(known)})")
        return [known[p] for p in names]
    with engine.connect() as conn:
        stored = conn.execute(devices.select().where(devices.c.decommissioned_ts.is_(None))).mappings().all()
    found: dict[str, P] = {}
    for row in stored:
        profile = of_device(HardwareProfile.model_validate(row["profile"]))
        found.setdefault(profile.name, profile)
    return list(found.values()) or default


def _costs(pipeline: Any, folder: Path, profiles: list[TargetProfile]) -> dict[str, MeasuredCost]:
    """The pipeline's artifact cost per profile (a profile whose runtime cannot run it is left out)."""
    folder.mkdir(parents=True, exist_ok=True)
    measured: dict[str, Any] = {}
    out: dict[str, MeasuredCost] = {}
    for profile in profiles:
        if profile.runtime not in measured:
            try:
                path = (export_onnx if profile.runtime == "onnx" else export_tflite)(
                    pipeline, len(FEATURES), folder / f"risk.{profile.runtime}")
            except ExportError:
                measured[profile.runtime] = None
                continue
            measured[profile.runtime] = measure(path, profile.runtime, len(FEATURES))
        if (cost := measured[profile.runtime]) is not None:
            scaled = for_profile(cost, profile)
            out[profile.name] = MeasuredCost(scaled.latency_p99_ms, max(scaled.peak_memory_mb, 0.01))
    return out


def _one_winner(winners: dict[str, str | None], scores: list[Any]) -> Algorithm:
    """One model for the fleet: the algorithm most profiles recommend (ties: the better cross-validated AP)."""
    chosen = [w for w in winners.values() if w is not None]
    if not chosen:
        reasons = ", ".join(f"{s.algorithm} recall {s.recall:.3f}" for s in scores)
        raise StepRefused(f"recommendation: no candidate meets the recall floor on any profile ({reasons})")
    ap = {s.algorithm: s.average_precision for s in scores}
    return max(set(chosen), key=lambda a: (chosen.count(a), ap[a]))  # type: ignore[return-value]


def _score_dict(score: Any) -> dict[str, float]:
    return {k: round(float(getattr(score, k)), 4) for k in
            ("roc_auc", "average_precision", "recall", "precision", "f1", "brier", "fit_s_per_100k", "threshold")}


def _champion(ctx: RunContext, name: str) -> tuple[str, Any, float] | None:
    """(version, scores function of its ONNX artifact, its threshold), or None when there is no champion."""
    config = RegistryConfig.from_env(ctx.data_dir)
    registry = ModelRegistry(ctx.engine, config.store_dir)
    try:
        version = registry.alias(name, CHAMPION)
    except ModelNotFound:
        return None
    package = load_package(registry.package_dir(version), trusted_keys=config.trusted_keys)
    artifact = package.manifest.artifact("onnx")
    if artifact is None:
        raise StepRefused(f"champion {name} {version.version} has no ONNX artifact to compare with")
    import onnxruntime  # the cloud's reference runtime; imported here so the module loads without it

    session = onnxruntime.InferenceSession(str(package.path_of(artifact)), providers=["CPUExecutionProvider"])
    threshold = float(version.metrics.get("threshold", 0.5))
    return version.version, lambda X: session.run(None, {"features": X.astype(np.float32)})[0].reshape(-1), threshold


def _compat(package: Any, profiles: list[TargetProfile], pipeline: Any, sample: np.ndarray,
            ctx: RunContext) -> dict[str, dict[str, Any]]:
    """The compatibility and load test of each profile's artifact."""
    manifest = package.manifest
    reports = {}
    for i, profile in enumerate(profiles):
        ctx.progress(0.2 + 0.6 * i / len(profiles), f"compatibility and load test on {profile.name}")
        artifact = manifest.artifact(profile.runtime)
        if artifact is None:
            reports[profile.name] = {"passed": False, "reasons": [f"no {profile.runtime} artifact"]}
            continue
        report = check_artifact(package.path_of(artifact), profile.runtime, manifest, profile,
                                lambda X: pipeline.predict_proba(X)[:, 1], sample.astype(np.float32))
        reports[profile.name] = {"passed": report.passed, "reasons": list(report.reasons), "qps": report.qps,
                                 "p99_ms": report.p99_ms, "max_abs_diff": report.max_abs_diff}
    return reports


KIND = register_kind("risk", {"preprocessing": preprocessing, "training": training, "evaluating": evaluating,
                              "packaging": packaging}, options=RiskOptions, drift_sample=drift_sample,
                     weights={"preprocessing": 1, "training": 4, "evaluating": 1, "packaging": 2})

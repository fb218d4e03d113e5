"""The ``camera`` pipeline kind: the camera detector fine-tuned on the hard examples people labelled.

- **preprocessing**: every accepted or corrected hard example
  (:mod:`cloud_sync.labels`), decoded; too few stop the run.
- **training**: :func:`models.camera.finetune.fine_tune` from the registry's
  ``champion`` of the model (else the shipped default), which builds the
  artifacts per target profile of the devices it will run on (the pipeline's
  ``profiles``, else those of the registered devices: :mod:`models.build`),
  checks each against the float model (a refused int8, or a profile left
  with nothing it runs, ends the run with the reason), scores base and new
  (int8, as a Raspberry Pi runs it) on held-out labelled frames and a
  rendered set, and writes the package, signed only if it passed.
- **evaluating**: its gate: a new model worse than its base on either set
  ends the run with the reasons (retrying cannot change them).
- **packaging**: the signed package registered and aliased ``candidate``.

Its pipelines run on a schedule or by hand: the labels trigger counts
supervisors' alarm verdicts, which say nothing about camera frames.
"""
from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.labels import LabelStore
from cloud_sync.model_registry import ModelNotFound, ModelRegistry
from cloud_sync.model_registry.config import RegistryConfig
from cloud_sync.rollout.records import RolloutPlan
from cloud_sync.training.context import RunContext
from cloud_sync.training.errors import StepRefused
from cloud_sync.training.kinds import register_kind
from models.build.targets import PROFILES, BuildTarget, target_for
from models.camera.build import BUILD_MARGIN
from models.package import load_package

from .risk import CANDIDATE, CHAMPION, target_profiles
from .rollout_step import start_rollout

SHIPPED = Path(str(resources.files("models"))) / "camera" / "default"


class CameraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str = Field("siteguard-ppe-detector", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    epochs: int = Field(3, ge=1, le=50)
    min_frames: int = Field(20, ge=4, description="labelled frames a run needs")
    rendered_images: int = Field(64, ge=8, le=2000, description="rendered scenes checked beside the held-out frames")
    seed: int = 0
    compiled: bool = Field(True, description="False: eager steps, quicker for a tiny run")
    profiles: list[str] | None = Field(
        None, description=f"target profiles to build for ({', '.join(PROFILES)}); none: those of the registered "
        "devices")
    build_recall_margin: float = Field(BUILD_MARGIN, ge=0, lt=0.5, description="the most recall (overall and per "
                                       "class) a compiled artifact may lose against the float model")
    rollout: RolloutPlan | None = Field(None, description="start a rollout of each registered candidate to these "
                                        "targets (canaries first); none: the candidate waits for an admin")


def preprocessing(ctx: RunContext) -> None:
    options: CameraOptions = ctx.options  # type: ignore[assignment]
    frames, ids = [], []
    for example, jpeg in LabelStore(ctx.engine).labelled():
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            ctx.log(f"hard example {example.id}: its JPEG does not decode; left out", "warning")
            continue
        boxes = [(b.x1, b.y1, b.x2, b.y2) for b in example.label.boxes] if example.label else []
        labels = [b.label for b in example.label.boxes] if example.label else []
        frames.append((cv2.cvtColor(image, cv2.COLOR_BGR2RGB), np.asarray(boxes, np.float32).reshape(-1, 4), labels))
        ids.append(f"{example.id}:{example.label.revision if example.label else 0}")
    if len(frames) < options.min_frames:
        raise StepRefused(f"data: {len(frames)} labelled hard examples, the pipeline needs {options.min_frames}")
    ctx.scratch["frames"] = frames
    ctx.data_snapshot_id = "labels-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    ctx.metrics["frames"] = len(frames)
    ctx.log(f"{len(frames)} labelled hard examples ({ctx.data_snapshot_id})")


def training(ctx: RunContext) -> None:
    from models.camera.finetune import fine_tune  # TensorFlow: loaded by the worker that trains, only

    options: CameraOptions = ctx.options  # type: ignore[assignment]
    config = RegistryConfig.from_env(ctx.data_dir)
    if config.signing_key is None:
        raise StepRefused("training: the cloud has no signing key (set SITEGUARD_SIGNING_KEY or serve --signing-key)")
    registry = ModelRegistry(ctx.engine, config.store_dir)
    try:
        base_dir = registry.package_dir(registry.alias(options.model_name, CHAMPION))
    except ModelNotFound:
        base_dir = SHIPPED
    base = load_package(base_dir).manifest
    ctx.parent_version = base.version
    result = fine_tune(
        base_dir, ctx.scratch["frames"], epochs=options.epochs, seed=options.seed, out_dir=ctx.work_dir / "package",
        signing_key=config.signing_key, version=f"{base.version}+ft{ctx.job_id}", parent_version=base.version,
        run_id=f"job-{ctx.job_id}", progress=ctx.progress, rendered_images=options.rendered_images,
        compiled=options.compiled, targets=_targets(ctx, options), build_margin=options.build_recall_margin)
    ctx.scratch["result"] = result
    ctx.metrics.update(base=result.metrics_base, new=result.metrics_new, build=result.build,
                       gate={"passed": result.gate_passed, "reasons": list(result.reasons)})
    if refused := [r for r in result.reasons if r.startswith("build: ")]:
        raise StepRefused("; ".join(refused))


def evaluating(ctx: RunContext) -> None:
    result = ctx.scratch["result"]
    if not result.gate_passed:
        raise StepRefused("gate: " + "; ".join(result.reasons))
    ctx.log("gate passed: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(result.metrics_new.items())
                                        if isinstance(v, float))[:2000])


def packaging(ctx: RunContext) -> None:
    options: CameraOptions = ctx.options  # type: ignore[assignment]
    config = RegistryConfig.from_env(ctx.data_dir)
    registry = ModelRegistry(ctx.engine, config.store_dir)
    registered = registry.register(ctx.scratch["result"].package_dir, config.trusted_keys,
                                   by=f"training job {ctx.job_id}", run_id=f"job-{ctx.job_id}",
                                   data_snapshot_id=ctx.data_snapshot_id)
    registry.set_alias(options.model_name, CANDIDATE, registered.version, by=f"training job {ctx.job_id}")
    ctx.result.update(model=registered.name, version=registered.version, alias=CANDIDATE)
    ctx.log(f"registered {registered.name} {registered.version} as {CANDIDATE}")
    if options.rollout is not None:
        start_rollout(ctx, registry, "camera", options.rollout)


def _targets(ctx: RunContext, options: CameraOptions) -> list[BuildTarget]:
    """The pipeline's profiles, else one per kind of registered device, else a Raspberry Pi and an x86 box."""
    return target_profiles(ctx.engine, options.profiles, PROFILES, lambda hw: target_for(
        hw.cpu_arch, hw.accelerator, hw.runtimes.model_dump(), hw.gpu_compute_capability),
        [PROFILES["pi4"], PROFILES["x86"]])


KIND = register_kind("camera", {"preprocessing": preprocessing, "training": training, "evaluating": evaluating,
                                "packaging": packaging}, options=CameraOptions,
                     weights={"preprocessing": 1, "training": 12, "evaluating": 1, "packaging": 1})

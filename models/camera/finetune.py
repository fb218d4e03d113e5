"""Fine-tune a shipped camera package on labelled hard examples, prove it no worse, package and sign it.

The cloud's training loop (docs/trainer.md) calls :func:`fine_tune` with the
frames people labelled. The steps, each reported through ``progress``:

1. the trainable detector back from the base package's ONNX
   (:mod:`.recover`), BatchNorm frozen: a few hundred frames cannot
   re-estimate its statistics (see :mod:`.recover`);
2. a seeded split of the frames into train and held-out, plus a rendered
   set (:func:`.dataset.render_split`, the ``test`` split no model trains on)
   so that a handful of frames labelled wrongly cannot fake a gain;
3. the existing targets, loss and loop (:func:`.trainer.fit`) at a small
   learning rate, on the training frames and as many rendered scenes
   (rehearsal: hard examples alone pull the model towards their few
   situations and it forgets the rest);
4. the build per target profile (:mod:`models.build`; by default the same
   three artifacts as :mod:`.train`: ONNX, TFLite fp32 and int8), each
   artifact checked against the float model on the held-out frames and the
   rendered set (detections found again, recall overall and per class within
   the build margin); a refused artifact is left out, and a refused int8 or a
   profile left with nothing it runs refuses the candidate (the gate below
   measures int8);
5. base and new, each as its int8 TFLite through the edge's runtime path
   (what a Raspberry Pi runs), scored on both sets by :mod:`.evaluate`;
6. the gate: on neither set may the new model's mAP@0.5 or recall fall below
   the base's by more than :class:`GateConfig` allows (a tolerance, or the
   base score's standard error on a small set);
7. the manifest (parent version, metrics of both) written, and signed only
   when the gate passed: a refused candidate stays inspectable on disk but
   no edge that checks signatures will load it.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import numpy as np

from models.build.builder import BuildReport, build
from models.build.targets import PROFILES, BuildTarget
from models.package import ModelPackage, load_package, write_manifest

from .build import BUILD_MARGIN, CameraFamily
from .dataset import Split, render_split, training_arrays
from .evaluate import Scores, detect_all, score
from .packaging import Exported, build_manifest, draft, finish
from .runtime_path import MAP_CONF_THRESHOLD, detector, open_runner
from .scene import LABELS, Box

if TYPE_CHECKING:
    import keras

LabelledFrame = tuple[np.ndarray, "np.ndarray | Sequence[Sequence[float]]", Sequence[str]]
"""(RGB uint8 image ``H x W x 3``, boxes ``(M, 4)`` as x1, y1, x2, y2 in 0..1 of the image, M class names)."""
Progress = Callable[[float, str], None]
"""Told the share done (0..1) and what is happening."""

LEARNING_RATE = 4e-4
"""A tenth of training from scratch: small steps away from weights that already work."""
CALIBRATION_IMAGES = 200
MIN_TRAIN = 4


class FineTuneError(ValueError):
    """The frames or the base package cannot be fine-tuned as given; the message says which and why."""


@dataclass(frozen=True, slots=True)
class GateConfig:
    """How much worse than the base the new model may score on a set (mAP@0.5, recall) and still ship.

    The allowed drop is the larger of a fixed tolerance (the int8
    calibration alone moves mAP by about a hundredth) and
    ``standard_errors`` times the standard error of the base's score on
    that set, ``sqrt(p (1 - p) / objects)``: on eight held-out frames one
    object found or missed moves recall by 0.04, and noise is not a
    regression. A set too small to show a loss cannot veto; the rendered
    set is large enough to.
    """

    map_tolerance: float = 0.02
    recall_tolerance: float = 0.03
    standard_errors: float = 1.0


@dataclass(frozen=True, slots=True)
class FineTuneResult:
    """Where the package is and how base and new scored (int8, flat keys as in the manifest)."""

    package_dir: Path
    metrics_base: dict[str, float]
    metrics_new: dict[str, float]
    gate_passed: bool
    reasons: tuple[str, ...]  # why the gate (or the build) refused; empty when it passed
    build: dict[str, object] = field(default_factory=dict)  # BuildReport.as_metrics(): every artifact's numbers


SETS = {"rendered": "", "hard": "hard_"}
"""Metric key prefix per evaluation set: the rendered scenes keep the unprefixed keys the base's manifest has."""


def fine_tune(
    base_package_dir: Path | str,
    frames: Sequence[LabelledFrame],
    *,
    epochs: int,
    seed: int,
    out_dir: Path | str,
    signing_key: bytes,
    version: str,
    parent_version: str | None,
    run_id: str,
    progress: Progress,
    rendered_images: int = 64,
    replay_share: float = 1.0,
    holdout: float = 0.2,
    min_holdout: int = 4,
    learning_rate: float = LEARNING_RATE,
    gate: GateConfig = GateConfig(),
    compiled: bool = True,
    targets: Sequence[BuildTarget] = (PROFILES["pi4"], PROFILES["x86"]),
    build_margin: float = BUILD_MARGIN,
) -> FineTuneResult:
    """Fine-tune the package at ``base_package_dir`` on ``frames`` into ``out_dir`` (see the module docstring).

    ``parent_version`` must be the base's version (None: take it from the
    base). ``compiled=False`` runs eager steps: faster for a run of a few
    steps, slower for a real one. ``targets``: the profiles of the devices
    it will run on (the build per profile); ``build_margin``: the recall an
    artifact may lose against the float model.
    """
    import tensorflow as tf
    from absl import logging as absl_logging

    from .recover import freeze_batchnorm, trainable_from_package
    from .targets import make_grid
    from .trainer import FitConfig, fit

    tf.get_logger().setLevel("ERROR")
    absl_logging.set_verbosity(absl_logging.ERROR)  # the converters' deprecation notices
    tf.keras.utils.set_random_seed(seed)
    out = _empty_dir(Path(out_dir))
    base = load_package(base_package_dir)
    parent = _check_base(base, parent_version, epochs)
    train, held = holdout_split(to_split(frames), seed, holdout, min_holdout)
    progress(0.0, f"recovering {base.manifest.name} {parent} from its ONNX artifact")
    model = trainable_from_package(base_package_dir)
    frozen_bn = freeze_batchnorm(model)
    size = base.manifest.inputs[0].shape[1]
    grid = make_grid(size)
    replay = render_split(seed, "train", round(len(train) * replay_share))
    train_arrays = _concat(training_arrays(train, size, grid), training_arrays(replay, size, grid))
    sets = {"rendered": render_split(seed, "test", rendered_images), "hard": held}
    progress(0.05, f"{len(train)} frames to train on, {len(replay)} rendered scenes replayed, {len(held)} held out, "
                   f"{rendered_images} rendered to check; {frozen_bn} BatchNorm layers frozen")

    def report(stats: dict[str, float]) -> None:
        progress(0.05 + 0.6 * stats["epoch"] / stats["epochs"],
                 f"epoch {stats['epoch']}/{stats['epochs']}: loss {stats['loss']}, held-out loss {stats['val_loss']}, "
                 f"{stats['seconds']} s")

    started = time.perf_counter()
    fit(model, train_arrays, training_arrays(held, size, grid), grid,
        FitConfig(epochs=epochs, learning_rate=learning_rate, seed=seed, compiled=compiled), report)
    train_seconds = time.perf_counter() - started
    if not any(t.tflite for t in targets):
        targets = (*targets, PROFILES["pi4"])  # the gate below measures the int8 TFLite a Pi runs
    progress(0.7, f"building for {', '.join(t.name for t in targets)} and checking each artifact")
    report = _build(model, base, out, sets, train_arrays[0][:CALIBRATION_IMAGES], targets, build_margin)
    if refusals := _build_reasons(report):
        progress(1.0, "refused at build, nothing signed: " + "; ".join(refusals))
        return FineTuneResult(out, {}, {}, False, tuple(refusals), report.as_metrics())
    manifest = build_manifest(out, [Exported(out / a.path, a.format, a.precision, a.quantization)
                                    for a in report.artifacts()], input_size=size, rows=grid.size, version=version,
                              run_id=run_id)
    manifest = manifest.model_copy(update={"parent_version": parent, "decoder": base.manifest.decoder,
                                           "artifacts": report.artifacts(), "checks": report.checks(),
                                           "device_builds": tuple(report.device_builds)})
    progress(0.8, "evaluating base and new (int8) on the held-out frames and the rendered set")
    threshold = base.manifest.decoder.conf_threshold  # type: ignore[union-attr]  # _check_base: it has one
    metrics_base = evaluate_int8(base, sets, threshold)
    metrics_new = evaluate_int8(draft(out, manifest), sets, threshold)
    reasons = gate_reasons(metrics_base, metrics_new, gate)
    metrics = {**metrics_new, **{f"base_{k}": v for k, v in metrics_base.items() if "map50" in k or "recall" in k},
               "precision": metrics_new["precision_int8"], "recall": metrics_new["recall_int8"],
               "train_frames": float(len(train)), "train_seconds": round(train_seconds, 1)}
    if reasons:
        write_manifest(out, manifest.model_copy(update={"metrics": dict(sorted(metrics.items()))}))
        progress(1.0, "refused by the gate, left unsigned: " + "; ".join(reasons))
    else:
        finish(out, manifest, metrics, signing_key)
        progress(1.0, f"{manifest.name} {version} (parent {parent}) packaged and signed in {out}")
    return FineTuneResult(out, metrics_base, metrics_new, not reasons, tuple(reasons), report.as_metrics())


def to_split(frames: Sequence[LabelledFrame], name: str = "labelled") -> Split:
    """Labelled RGB frames with normalised boxes as a :class:`Split` (BGR frames, boxes in pixels), checked."""
    images: list[np.ndarray] = []
    truth: list[list[Box]] = []
    for i, item in enumerate(frames):
        try:
            image, boxes, labels = item
        except (TypeError, ValueError):
            raise FineTuneError(f"frame {i}: expected (image, boxes, labels)") from None
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise FineTuneError(f"frame {i}: want an RGB uint8 image H x W x 3, got {image.dtype} {image.shape}")
        corners = np.asarray(boxes, np.float64).reshape(-1, 4) if len(boxes) else np.zeros((0, 4))
        if len(corners) != len(labels):
            raise FineTuneError(f"frame {i}: {len(corners)} boxes but {len(labels)} labels")
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise FineTuneError(f"frame {i}: labels {unknown} are not the model's classes {list(LABELS)}")
        if len(corners) and (corners.min() < 0 or corners.max() > 1 or (corners[:, 2:] <= corners[:, :2]).any()):
            raise FineTuneError(f"frame {i}: boxes must be x1 < x2, y1 < y2 within 0..1 of the image")
        h, w = image.shape[:2]
        images.append(np.ascontiguousarray(image[..., ::-1]))  # the runtime path takes frames as cameras give them
        truth.append([Box(str(label), x1 * w, y1 * h, x2 * w, y2 * h)
                      for label, (x1, y1, x2, y2) in zip(labels, corners.tolist())])
    return Split(name, images, truth)


def holdout_split(frames: Split, seed: int, share: float, minimum: int) -> tuple[Split, Split]:
    """A seeded (train, held-out) split: ``share`` of the frames held out, at least ``minimum``."""
    held_count = max(minimum, round(len(frames) * share))
    if len(frames) - held_count < MIN_TRAIN:
        raise FineTuneError(f"{len(frames)} labelled frames: need at least {held_count + MIN_TRAIN} "
                            f"({held_count} held out, {MIN_TRAIN} to train on)")
    order = np.random.default_rng([seed, 11]).permutation(len(frames))

    def pick(name: str, idx: np.ndarray) -> Split:
        return Split(name, [frames.frames[i] for i in sorted(idx)], [frames.boxes[i] for i in sorted(idx)])

    return pick("train", order[held_count:]), pick("held_out", order[:held_count])


def evaluate_int8(package: ModelPackage, sets: dict[str, Split], conf_threshold: float) -> dict[str, float]:
    """The int8 artifact's scores on each set, as flat metrics (``hard_map50_int8``, ``ap50_person_int8``...)."""
    artifact = package.manifest.artifact("tflite", "int8")
    if artifact is None:
        raise FineTuneError(f"{package.root}: no int8 TFLite artifact to evaluate")
    runner = open_runner(package, artifact, conf_threshold=MAP_CONF_THRESHOLD)
    metrics: dict[str, float] = {}
    try:
        for name, split in sets.items():
            scores: Scores = score(detect_all(detector(runner), split.frames), split.boxes, LABELS, conf_threshold)
            prefix = SETS[name]
            metrics.update({prefix + k: v for k, v in scores.as_metrics("int8").items()})
            metrics[f"{prefix}test_images"], metrics[f"{prefix}test_objects"] = float(scores.images), float(scores.objects)
    finally:
        runner.close()
    return metrics


def gate_reasons(base: dict[str, float], new: dict[str, float], gate: GateConfig) -> list[str]:
    """Why the new model may not replace the base: each set and measure where it lost more than allowed."""
    reasons = []
    for name, prefix in SETS.items():
        objects = max(1.0, base[f"{prefix}test_objects"])
        for measure, tolerance in (("map50", gate.map_tolerance), ("recall", gate.recall_tolerance)):
            key = f"{prefix}{measure}_int8"
            p = min(max(base[key], 0.0), 1.0)
            allowed = max(tolerance, gate.standard_errors * (p * (1.0 - p) / objects) ** 0.5)
            if new[key] < base[key] - allowed:
                reasons.append(f"{name} {measure} {new[key]:.3f} < base {base[key]:.3f} - {allowed:.3f}")
    return reasons


def _check_base(base: ModelPackage, parent_version: str | None, epochs: int) -> str:
    m = base.manifest
    if m.task != "detection" or tuple(m.labels) != LABELS:
        raise FineTuneError(f"{base.root}: a {m.task} model with labels {list(m.labels)}, not the camera detector")
    if m.decoder is None:
        raise FineTuneError(f"{base.root}: the manifest has no decoder (no operating threshold to compare at)")
    if parent_version is not None and parent_version != m.version:
        raise FineTuneError(f"parent_version {parent_version!r} is not the base package's version {m.version!r}")
    if epochs < 1:
        raise FineTuneError("epochs must be at least 1")
    return m.version


def _empty_dir(path: Path) -> Path:
    """``path``, created; refused when it holds anything (a stale signature must never cover new files)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FineTuneError(f"{path}: the output directory must be new or empty")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _concat(*parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def _build(model: keras.Model, base: ModelPackage, out: Path, sets: dict[str, Split], calibration: np.ndarray,
           targets: Sequence[BuildTarget], margin: float) -> BuildReport:
    """The artifacts ``targets`` need, from one frozen serving function, each checked on both sets together."""
    from .export import serving_function
    from .model import build_exportable

    frozen = serving_function(build_exportable(model))
    held_out = Split("build_check", [f for s in sets.values() for f in s.frames], [b for s in sets.values() for b in s.boxes])
    return build(CameraFamily(frozen, base.manifest, out, held_out, calibration), targets, out, margin=margin)


def _build_reasons(report: BuildReport) -> list[str]:
    """Why the candidate cannot go on: a profile with nothing it runs, or no int8 for the gate to measure."""
    reasons = [f"build: profile {name}: " + " / ".join(r.reason for r in refused) for name, refused
               in report.uncovered().items()]
    if not any(a.format == "tflite" and a.precision == "int8" for a in report.artifacts()):
        reasons += [f"build: {r.reason}" for r in report.refused if r.format == "tflite" and r.precision == "int8"]
    return reasons

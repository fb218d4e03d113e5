"""Train, export, evaluate, package and sign the default camera model, in one run.

    python -m models.camera.train --out DIR [--images N] [--epochs E] [--seed S] [--signing-key KEY]
    python -m models.camera.train --out DIR --smoke      # the whole path in seconds

Progress is one JSON object per line on stdout (``event``: ``data``,
``epoch``, ``export``, ``threshold``, ``eval``, ``package``); TensorFlow's own chatter is
silenced. The data split is seeded: the same seed renders the same images.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: keep progress lines readable

from models.package import ModelPackage
from models.signing import private_key

from .dataset import Split, render_split, training_arrays
from .evaluate import detect_all, operating_threshold, score
from .packaging import DECODER, build_manifest, draft, finish
from .runtime_path import MAP_CONF_THRESHOLD, detector, open_runner
from .scene import LABELS

SUFFIX = {("tflite", "fp32"): "fp32", ("tflite", "int8"): "int8", ("onnx", "fp32"): "onnx"}
HEADLINE = "int8"
"""Unsuffixed precision / recall are the int8 TFLite's: what a Raspberry Pi runs."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How big a run is. The defaults train the shipped model in a few minutes on two cores.

    Many images seen few times beat few images seen many times: with 1,500
    images the detector memorises each hard hat instead of learning hard hats.
    """

    images: int = 12000
    epochs: int = 3
    seed: int = 7
    width: float = 1.0
    input_size: int = 192
    version: str = "1.0.0"
    calibration_images: int = 200
    compiled: bool = True

    @property
    def split_sizes(self) -> dict[str, int]:
        """Train / val / held-out test: 80 / 5 / 15 % (test at least 16 images)."""
        test = max(16, self.images * 15 // 100)
        val = max(8, self.images // 20)
        return {"train": max(8, self.images - test - val), "val": val, "test": test}


DEFAULT = RunConfig()
SMOKE = RunConfig(images=48, epochs=1, width=0.25, input_size=96, version="0.0.0-smoke", calibration_images=8,
                  compiled=False)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def run(config: RunConfig, out: Path, signing_key: Path | None) -> Path:
    """The whole pipeline into ``out``; returns the package directory."""
    import tensorflow as tf
    from absl import logging as absl_logging

    from .export import export_onnx, export_tflite_fp32, export_tflite_int8, serving_function
    from .model import build_detector, build_exportable, make_grid
    from .trainer import FitConfig, fit

    tf.get_logger().setLevel("ERROR")
    absl_logging.set_verbosity(absl_logging.ERROR)  # the converters' deprecation notices
    tf.keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sizes = config.split_sizes
    grid = make_grid(config.input_size)
    train = training_arrays(render_split(config.seed, "train", sizes["train"]), config.input_size, grid)
    val_split, test = (render_split(config.seed, name, sizes[name]) for name in ("val", "test"))
    val = training_arrays(val_split, config.input_size, grid)
    emit("data", **sizes, seconds=round(time.perf_counter() - started, 1))

    model = build_detector(config.input_size, config.width)
    fit_started = time.perf_counter()
    recipe = FitConfig(epochs=config.epochs, seed=config.seed, compiled=config.compiled)
    fit(model, train, val, grid, recipe, lambda stats: emit("epoch", **stats))
    train_seconds = time.perf_counter() - fit_started

    frozen = serving_function(build_exportable(model))
    calibration = train[0][: config.calibration_images]
    exported = [
        export_tflite_fp32(frozen, out / "model_fp32.tflite"),
        export_tflite_int8(frozen, out / "model_int8.tflite", calibration),
        export_onnx(frozen, out / "model.onnx"),
    ]
    for e in exported:
        emit("export", file=e.path.name, bytes=e.path.stat().st_size)

    run_id = f"camera-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-seed{config.seed}-n{config.images}-e{config.epochs}"
    manifest = build_manifest(out, exported, input_size=config.input_size, rows=grid.size, version=config.version,
                              run_id=run_id)
    threshold, f1 = _choose_threshold(draft(out, manifest), val_split)
    manifest = manifest.model_copy(update={"decoder": DECODER.model_copy(update={"conf_threshold": threshold})})
    emit("threshold", conf_threshold=threshold, val_f1=round(f1, 4))
    package = draft(out, manifest)
    metrics: dict[str, float] = {"test_images": float(len(test))}
    for artifact in manifest.artifacts:
        suffix = SUFFIX[(artifact.format, artifact.precision)]
        runner = open_runner(package, artifact, conf_threshold=MAP_CONF_THRESHOLD)
        try:
            found = detect_all(detector(runner), test.frames)
        finally:
            runner.close()
        scores = score(found, test.boxes, LABELS, threshold)
        metrics.update(scores.as_metrics(suffix))
        metrics["test_objects"] = float(scores.objects)
        emit("eval", artifact=artifact.path, map50=round(scores.map50, 4), precision=round(scores.precision, 4),
             recall=round(scores.recall, 4), ap50={k: round(v, 4) for k, v in scores.ap50.items()})
    metrics["precision"], metrics["recall"] = metrics[f"precision_{HEADLINE}"], metrics[f"recall_{HEADLINE}"]

    key, created = private_key(signing_key)
    _, key_name = finish(out, manifest, metrics, key)
    emit("package", path=str(out), key_id=key_name, dev_key_created=created, train_seconds=round(train_seconds, 1),
         total_seconds=round(time.perf_counter() - started, 1))
    return out


def _choose_threshold(package: ModelPackage, val: Split) -> tuple[float, float]:
    """The F1-best decoder threshold on the validation split, with the fp32 TFLite through the runtime path."""
    artifact = package.manifest.artifact("tflite", "fp32")
    assert artifact is not None
    runner = open_runner(package, artifact, conf_threshold=MAP_CONF_THRESHOLD)
    try:
        found = detect_all(detector(runner), val.frames)
    finally:
        runner.close()
    return operating_threshold(found, val.boxes, LABELS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.camera.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="package directory to write")
    parser.add_argument("--images", type=int, help=f"rendered images, all splits (default {DEFAULT.images})")
    parser.add_argument("--epochs", type=int, help=f"training epochs (default {DEFAULT.epochs})")
    parser.add_argument("--seed", type=int, help=f"data and init seed (default {DEFAULT.seed})")
    parser.add_argument("--version", help=f"package version to write (default {DEFAULT.version})")
    parser.add_argument("--signing-key", type=Path,
                        help="raw 32-byte Ed25519 private key; created (mode 0600) if missing; "
                             "omitted: a throwaway dev key")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny data and model, one epoch: checks the path in seconds")
    args = parser.parse_args(argv)
    chosen = {"images": args.images, "epochs": args.epochs, "seed": args.seed, "version": args.version}
    config = replace(SMOKE if args.smoke else DEFAULT, **{k: v for k, v in chosen.items() if v is not None})
    run(config, args.out, args.signing_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time every artifact of a package on VGA frames through the edge runtime's path.

    python -m models.camera.benchmark [PACKAGE] [--frames N] [--threads T]

Prints one JSON object per artifact and a last line with all of them: median
and p95 milliseconds per frame for preprocessing (letterbox of a 640x480
frame), inference and decoding with NMS, as :class:`ModelRunner` measures them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge_runtime.vision.model_runner import ModelRunner
from models.package import load_package

from . import DEFAULT_PACKAGE
from .render import random_scene
from .runtime_path import BACKEND_FOR_FORMAT


def measure(package_path: Path, frames: int = 200, threads: int = 2) -> list[dict[str, object]]:
    """Per-artifact timings on ``frames`` rendered 640x480 scenes (after one warm-up pass)."""
    package = load_package(package_path, require_signature=False)
    rng = np.random.default_rng(0)
    scenes = [random_scene(rng, 640, 480)[0] for _ in range(min(frames, 20))]
    results = []
    for artifact in package.manifest.artifacts:
        backend = f"{BACKEND_FOR_FORMAT[artifact.format]}:{artifact.precision}"
        runner = ModelRunner.from_package(package, backend=backend, config={"num_threads": threads})
        try:
            for scene in scenes:
                runner.detect(scene)
            timings = [runner.detect(scenes[i % len(scenes)])[1] for i in range(frames)]
        finally:
            runner.close()
        stages = {
            "total": [t.total_ms for t in timings], "preprocess": [t.preprocess_ms for t in timings],
            "inference": [t.inference_ms for t in timings], "postprocess": [t.postprocess_ms for t in timings],
        }
        results.append({
            "artifact": artifact.path, "backend": backend, "bytes": package.path_of(artifact).stat().st_size,
            **{f"{k}_ms_p50": round(float(np.median(v)), 2) for k, v in stages.items()},
            "total_ms_p95": round(float(np.percentile(stages["total"], 95)), 2),
        })
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.camera.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("package", nargs="?", type=Path, default=DEFAULT_PACKAGE)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    results = measure(args.package, args.frames, args.threads)
    for r in results:
        print(json.dumps(r))
    print(json.dumps({"benchmark": "camera_model", "frame": "640x480", "threads": args.threads, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

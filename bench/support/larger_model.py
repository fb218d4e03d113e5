"""A larger untrained variant of the default camera detector, for pipeline-overhead benchmarks.

The default model infers in well under a millisecond, so against it any video
decode dominates the pipeline's frame rate. This variant has the same graph
(``models.camera.model``) at ``--input`` pixels and ``--width`` channels, so
its inference costs what a YOLOv8n-class detector does on a small CPU. Its
weights are untrained: the presence prior keeps every score near 1 %, so it
finds nothing and post-processing stays as cheap as on an empty scene. It is
built in a child process (``python -m bench.support.larger_model OUT``) so the
benchmark process never imports TensorFlow; the package is unsigned.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build(out: Path, input_size: int, width: float) -> Path:
    """Write a model package (manifest + fp32 TFLite) to ``out``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from models.camera.export import export_tflite_fp32, serving_function
    from models.camera.model import build_detector, build_exportable
    from models.camera.packaging import build_manifest
    from models.package import write_manifest

    keras.utils.set_random_seed(7)
    out.mkdir(parents=True, exist_ok=True)
    serving = build_exportable(build_detector(input_size=input_size, width=width))
    exported = export_tflite_fp32(serving_function(serving), out / "model_fp32.tflite")
    rows = int(serving.output_shape[1])
    manifest = build_manifest(out, [exported], input_size=input_size, rows=rows, version="0.0.0-bench",
                              run_id=f"bench-untrained-{input_size}-w{width:g}")
    write_manifest(out, manifest)
    return out


def build_in_child(out: Path, input_size: int = 416, width: float = 2.0) -> Path:
    """:func:`build` in a child process (TensorFlow stays out of the caller)."""
    subprocess.run([sys.executable, "-m", "bench.support.larger_model", str(out), "--input", str(input_size),
                    "--width", str(width)], cwd=REPO, check=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("--input", type=int, default=416)
    p.add_argument("--width", type=float, default=2.0)
    a = p.parse_args()
    build(a.out, a.input, a.width)

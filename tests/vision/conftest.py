"""Small deterministic test models for the vision tests, and signed packages of them.

The models are built once per session by TensorFlow **in a child process**
(``python -m tests.vision.conftest OUT``), so the test process itself never
imports TensorFlow - like the edge runtime, which must not. One tiny conv net
with fixed seeded weights, two heads:

- ``yolo``: a YOLOv8-style transposed output ``[1, 4+C, N]`` (sigmoid boxes
  cxcywh normalised, sigmoid class scores, no objectness);
- ``ssd``: two outputs, ``boxes`` ``[1, N, 4]`` raw anchor encodings
  (ty, tx, th, tw) and ``scores`` ``[1, N, C]`` sigmoid.

Each is exported from the same weights to fp32 TFLite, full-integer int8
TFLite (int8 input and outputs: the back-end quantises and dequantises) and
ONNX (NHWC), plus an NCHW ONNX of the YOLO net. Packages are signed with a
fixed test key.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

INPUT_HW = (64, 64)
LABELS = ("person", "helmet", "vest")
GRID = 8  # 64 / stride 8
N_BOXES = GRID * GRID
SSD_ANCHOR = (0.25, 0.25)
SEED = 20240611
TEST_KEY_SEED = bytes(range(32))  # fixed Ed25519 private key for test packages
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- builder (child process)


def _weights(rng: np.random.RandomState, shape: tuple[int, ...], gain: float = 2.0) -> np.ndarray:
    fan_in = int(np.prod(shape[:-1]))
    return (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(np.float32)


def build_models(out: Path) -> None:
    """Write yolo_fp32.tflite, yolo_int8.tflite, yolo.onnx, yolo_nchw.onnx, ssd_* to ``out``."""
    import os
    import shutil

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import onnx
    import tensorflow as tf
    import tf2onnx

    rng = np.random.RandomState(SEED)
    c = len(LABELS)
    # numpy arrays (not tf.constant captured from outside): embedded in each traced
    # graph as constants, so tf2onnx does not turn them into extra graph inputs
    trunk = [
        (_weights(rng, (3, 3, 3, 8)), rng.uniform(-0.1, 0.1, 8).astype(np.float32)),
        (_weights(rng, (3, 3, 8, 16)), rng.uniform(-0.1, 0.1, 16).astype(np.float32)),
        (_weights(rng, (3, 3, 16, 16)), rng.uniform(-0.1, 0.1, 16).astype(np.float32)),
    ]
    yolo_w = _weights(rng, (1, 1, 16, 4 + c), gain=1.0)
    yolo_b = rng.uniform(-0.5, 0.5, 4 + c).astype(np.float32)
    box_w = _weights(rng, (1, 1, 16, 4), gain=0.5)
    score_w = _weights(rng, (1, 1, 16, c), gain=1.0)
    score_b = np.full(c, -0.5, np.float32)
    spec = [tf.TensorSpec([1, *INPUT_HW, 3], tf.float32, name="images")]

    def features(x):
        for w, b in trunk:
            x = tf.nn.relu(tf.nn.conv2d(x, w, strides=2, padding="SAME") + b)
        return x

    @tf.function(input_signature=spec)
    def yolo(images):
        y = tf.nn.conv2d(features(images), yolo_w, strides=1, padding="VALID") + yolo_b
        y = tf.sigmoid(tf.reshape(y, [1, N_BOXES, 4 + c]))
        return {"output0": tf.transpose(y, [0, 2, 1])}

    @tf.function(input_signature=spec)
    def ssd(images):
        f = features(images)
        boxes = tf.reshape(tf.nn.conv2d(f, box_w, strides=1, padding="VALID"), [1, N_BOXES, 4])
        scores = tf.sigmoid(tf.reshape(tf.nn.conv2d(f, score_w, strides=1, padding="VALID") + score_b, [1, N_BOXES, c]))
        return {"boxes": boxes, "scores": scores}

    calib_rng = np.random.RandomState(SEED + 1)

    def representative():
        for i in range(24):
            if i % 2:
                yield [calib_rng.uniform(0, 1, (1, *INPUT_HW, 3)).astype(np.float32)]
            else:
                yield [sample_image(i)[None, :, :, ::-1].astype(np.float32) / 255.0]

    def converter(name, fn):
        # the SSD goes through a SavedModel, so its .tflite carries a signature naming
        # its outputs "boxes" and "scores"; the YOLO is converted from the concrete
        # function and has none (outputs "Identity"): the back-ends handle both
        if name == "ssd":
            saved = out / "ssd_saved_model"
            module = tf.Module()
            module.serve = fn
            tf.saved_model.save(module, str(saved), signatures={"serving_default": fn.get_concrete_function()})
            return tf.lite.TFLiteConverter.from_saved_model(str(saved))
        return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)

    for name, fn, output_names in (("yolo", yolo, ["output0"]), ("ssd", ssd, ["boxes", "scores"])):
        (out / f"{name}_fp32.tflite").write_bytes(converter(name, fn).convert())
        conv = converter(name, fn)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        (out / f"{name}_int8.tflite").write_bytes(conv.convert())
        variants = [("", None)] + ([("_nchw", ["images:0"])] if name == "yolo" else [])
        for suffix, nchw in variants:
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17, inputs_as_nchw=nchw)
            _rename_io(proto, "images", output_names)
            onnx.save(proto, str(out / f"{name}{suffix}.onnx"))
    shutil.rmtree(out / "ssd_saved_model", ignore_errors=True)


def _rename_io(proto, input_name: str, output_names: list[str]) -> None:
    """tf2onnx names tensors after TF ops ("images:0", "Identity:0"): give them the manifest's names."""
    renames = {proto.graph.input[0].name: input_name}
    outputs = sorted(proto.graph.output, key=lambda o: o.name)  # Identity:0, Identity_1:0 follow the dict keys' order
    renames.update({o.name: n for o, n in zip(outputs, sorted(output_names))})
    for node in proto.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.name = renames.get(value.name, value.name)


def sample_image(seed: int, hw: tuple[int, int] = INPUT_HW) -> np.ndarray:
    """A deterministic BGR uint8 picture: a gradient and a few filled shapes."""
    import cv2

    rng = np.random.RandomState(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 127 // max(h + w - 2, 1)], -1)
    img = img.astype(np.uint8)
    for _ in range(4):
        x1, y1 = rng.randint(0, w - w // 4), rng.randint(0, h - h // 4)
        x2, y2 = x1 + rng.randint(w // 8, w // 4), y1 + rng.randint(h // 8, h // 4)
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), [int(v) for v in rng.randint(0, 256, 3)], -1)
    return img


# --------------------------------------------------------------------------- packages (test process)


@dataclass(frozen=True)
class VisionModels:
    """Where the built files and packages are, and the key that signed the packages."""

    files: Path
    yolo: Path  # package: yolo_fp32.tflite, yolo_int8.tflite, yolo.onnx
    ssd: Path  # package: ssd_fp32.tflite, ssd_int8.tflite, ssd.onnx
    yolo_nchw: Path  # package: yolo_nchw.onnx
    trusted_keys: dict[str, bytes]
    private_key: bytes


def quantization_of(path: Path) -> dict[str, tuple[float, int]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    details = interp.get_input_details() + interp.get_output_details()
    return {d["name"]: (float(d["quantization"][0]), int(d["quantization"][1])) for d in details}


def make_package(
    root: Path,
    name: str,
    artifacts: list[tuple[Path, str, str]],
    outputs: list[dict],
    decoder: dict | None,
    *,
    layout: str = "NHWC",
    input_shape: tuple[int, ...] | None = None,
    private_key: bytes | None = TEST_KEY_SEED,
    labels: tuple[str, ...] = LABELS,
    task: str = "detection",
) -> Path:
    """Copy ``artifacts`` (path, format, precision) into ``root`` with a manifest (and signature)."""
    import shutil

    from models.package import Manifest, sha256_file, sign_package, write_manifest

    root.mkdir(parents=True, exist_ok=True)
    arts = []
    for src, fmt, precision in artifacts:
        dst = root / src.name
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        art = {"path": src.name, "format": fmt, "precision": precision, "sha256": sha256_file(dst)}
        if fmt == "tflite" and precision == "int8":
            art["quantization"] = quantization_of(dst)
        arts.append(art)
    h, w = INPUT_HW
    shape = input_shape or ((1, h, w, 3) if layout == "NHWC" else (1, 3, h, w))
    manifest = Manifest.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "task": task,
            "labels": list(labels),
            "inputs": [{"name": "images", "shape": list(shape), "dtype": "float32"}],
            "outputs": outputs,
            "preprocessing": {"layout": layout, "resize": "letterbox", "color": "RGB", "std": [255.0] * 3},
            "decoder": decoder,
            "artifacts": arts,
        }
    )
    write_manifest(root, manifest)
    if private_key is not None:
        sign_package(root, private_key)
    return root


YOLO_OUTPUTS = [{"name": "output0", "shape": [1, 4 + len(LABELS), N_BOXES], "dtype": "float32"}]
SSD_OUTPUTS = [
    {"name": "boxes", "shape": [1, N_BOXES, 4], "dtype": "float32"},
    {"name": "scores", "shape": [1, N_BOXES, len(LABELS)], "dtype": "float32"},
]
YOLO_DECODER = {"type": "yolo", "conf_threshold": 0.5, "iou_threshold": 0.5, "box_format": "cxcywh"}
SSD_DECODER = {
    "type": "ssd",
    "conf_threshold": 0.5,
    "iou_threshold": 0.5,
    "box_format": "yxyx",
    "anchors": [list(SSD_ANCHOR)],
    "strides": [INPUT_HW[0] // GRID],
}


@pytest.fixture(scope="session")
def vision_models(tmp_path_factory: pytest.TempPathFactory) -> VisionModels:
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed: the LiteRT test models cannot be read")
    files = tmp_path_factory.mktemp("vision-models")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.vision.conftest", str(files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        if "No module named 'tensorflow'" in proc.stderr or "No module named 'tf2onnx'" in proc.stderr:
            pytest.skip("tensorflow-cpu and tf2onnx (the 'trainer' extra) are needed to build the test models")
        raise RuntimeError(f"building test models failed:\n{proc.stderr[-4000:]}")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.from_private_bytes(TEST_KEY_SEED).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    packages = tmp_path_factory.mktemp("vision-packages")
    f = files
    yolo = make_package(
        packages / "yolo",
        "test-yolo",
        [(f / "yolo_fp32.tflite", "tflite", "fp32"), (f / "yolo_int8.tflite", "tflite", "int8"), (f / "yolo.onnx", "onnx", "fp32")],
        YOLO_OUTPUTS,
        YOLO_DECODER,
    )
    ssd = make_package(
        packages / "ssd",
        "test-ssd",
        [(f / "ssd_fp32.tflite", "tflite", "fp32"), (f / "ssd_int8.tflite", "tflite", "int8"), (f / "ssd.onnx", "onnx", "fp32")],
        SSD_OUTPUTS,
        SSD_DECODER,
    )
    nchw = make_package(
        packages / "yolo_nchw", "test-yolo-nchw", [(f / "yolo_nchw.onnx", "onnx", "fp32")], YOLO_OUTPUTS, YOLO_DECODER,
        layout="NCHW",
    )
    return VisionModels(files, yolo, ssd, nchw, {"test": public}, TEST_KEY_SEED)


DEFAULT_PACKAGE = REPO / "models" / "camera" / "default"


@pytest.fixture(scope="session")
def default_package() -> Path:
    """The project's trained default model, when the training pipeline has produced it."""
    if not (DEFAULT_PACKAGE / "manifest.json").is_file():
        pytest.skip("models/camera/default has not been trained yet")
    return DEFAULT_PACKAGE


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    build_models(target)
    print(json.dumps(sorted(p.name for p in target.iterdir())))

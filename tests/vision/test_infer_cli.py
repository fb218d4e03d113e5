"""``siteguard infer`` as a subprocess on image files: packages, bare models, --raw, signatures, errors."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge_runtime.vision.infer_cli import add_infer_parser, parse_labels, read_public_key
from tests.vision.conftest import LABELS, REPO, sample_image

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")


def infer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.vision.infer_cli", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


def lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("images")
    paths = [root / "vga.png", root / "square.jpg"]
    cv2.imwrite(str(paths[0]), sample_image(1, (480, 640)))
    cv2.imwrite(str(paths[1]), sample_image(2, (300, 300)))
    return paths


@pytest.fixture(scope="module")
def key_file(vision_models, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "test.pub"
    path.write_text(vision_models.trusted_keys["test"].hex() + "\n")
    return path


def test_package_one_json_line_per_image(vision_models, images, key_file):
    proc = infer(vision_models.yolo, *images, "--trusted-key", key_file)
    assert proc.returncode == 0, proc.stderr
    out = lines(proc)
    assert [o["image"] for o in out] == [str(p) for p in images]
    for o in out:
        assert o["backend"] == "litert" and o["model"] == "test-yolo" and o["inference_ms"] > 0
        assert o["detections"], o
        for d in o["detections"]:
            assert set(d) == {"label", "score", "box"} and d["label"] in LABELS and len(d["box"]) == 4
    assert "signature not checked" not in proc.stderr


def test_backend_option_and_raw_summary(vision_models, images):
    proc = infer(vision_models.ssd, images[0], "--backend", "onnxruntime", "--raw")
    assert proc.returncode == 0, proc.stderr
    (o,) = lines(proc)
    assert o["backend"] == "onnxruntime"
    assert [(t["name"], t["shape"], t["dtype"]) for t in o["outputs"]] == [
        ("boxes", [1, 64, 4], "float32"), ("scores", [1, 64, 3], "float32")]
    scores = o["outputs"][1]
    assert 0 <= scores["min"] <= scores["mean"] <= scores["max"] <= 1 and len(scores["sha256"]) == 64
    assert "signature not checked" in proc.stderr  # signed, but no key given to check it


def test_same_raw_bytes_from_the_package_and_the_bare_file(vision_models, images):
    pkg = lines(infer(vision_models.yolo, images[0], "--backend", "onnxruntime", "--raw"))[0]
    bare = lines(infer(vision_models.files / "yolo.onnx", images[0], "--decoder", "yolo",
                       "--labels", ",".join(LABELS), "--conf", "0.5", "--raw"))[0]
    assert bare["outputs"][0]["sha256"] == pkg["outputs"][0]["sha256"]
    assert bare["detections"] == pkg["detections"]
    assert bare["model"] == "yolo" and bare["version"] == "0+bare"


def test_bare_int8_tflite_with_labels_file(vision_models, images, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("# classes\nperson\nhelmet\nvest\n")
    proc = infer(vision_models.files / "yolo_int8.tflite", images[0], "--decoder", "yolo", "--labels", labels,
                 "--conf", "0.5", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    (o,) = lines(proc)
    assert o["precision"] == "int8" and o["backend"] == "litert"
    assert {d["label"] for d in o["detections"]} <= set(LABELS) and o["detections"]


def test_bare_ssd_with_anchors_and_nchw_onnx(vision_models, images):
    proc = infer(vision_models.files / "ssd_fp32.tflite", images[0], "--decoder", "ssd", "--anchors", "0.25,0.25",
                 "--strides", "8", "--conf", "0.55")
    assert proc.returncode == 0, proc.stderr
    assert all(d["label"].startswith("class") for d in lines(proc)[0]["detections"])
    proc = infer(vision_models.files / "yolo_nchw.onnx", images[0], "--decoder", "yolo", "--conf", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert lines(proc)[0]["detections"]


def test_unreadable_image_is_reported_and_the_rest_run(vision_models, images, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    proc = infer(vision_models.yolo, images[0], junk, tmp_path / "missing.png")
    assert proc.returncode == 1
    assert len(lines(proc)) == 1
    assert f"{junk}: cannot read the image" in proc.stderr


def test_signatures(vision_models, images, key_file, tmp_path):
    import shutil

    unsigned = tmp_path / "unsigned"
    shutil.copytree(vision_models.yolo, unsigned)
    (unsigned / "manifest.sig").unlink()
    proc = infer(unsigned, images[0], "--trusted-key", key_file)
    assert proc.returncode == 2
    assert "unsigned package" in proc.stderr and "--no-verify" in proc.stderr
    proc = infer(unsigned, images[0], "--trusted-key", key_file, "--no-verify")
    assert proc.returncode == 0, proc.stderr
    other = tmp_path / "other.pub"
    other.write_bytes(bytes(32))
    proc = infer(vision_models.yolo, images[0], "--trusted-key", other)
    assert proc.returncode == 2 and "signature does not verify" in proc.stderr


def test_model_errors_exit_2(vision_models, images, tmp_path):
    proc = infer(vision_models.files / "yolo.onnx", images[0])
    assert proc.returncode == 2 and "needs --decoder" in proc.stderr
    proc = infer(vision_models.files / "yolo.onnx", images[0], "--decoder", "yolo", "--input-size", "32x32")
    assert proc.returncode == 2 and "does not fit" in proc.stderr
    truncated = tmp_path / "t.tflite"
    truncated.write_bytes((vision_models.files / "yolo_fp32.tflite").read_bytes()[:1000])
    proc = infer(truncated, images[0], "--decoder", "yolo")
    assert proc.returncode == 2 and "not a loadable TFLite model" in proc.stderr
    proc = infer(tmp_path / "nothing", images[0])
    assert proc.returncode == 2 and "not a model package" in proc.stderr


def test_missing_runtime_exit_2(vision_models, images):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        proc = infer(vision_models.yolo, images[0], "--backend", "tensorrt")
        assert proc.returncode == 2 and "tensorrt not installed" in proc.stderr


def test_subcommand_is_documented():
    """sqlite-utils style: the subcommand and every option have help text."""
    parser = argparse.ArgumentParser(prog="siteguard")
    sub = parser.add_subparsers(dest="command")
    infer_parser = add_infer_parser(sub)
    assert "infer" in sub.choices and sub.choices["infer"] is infer_parser
    assert infer_parser.description
    for action in infer_parser._actions:
        if action.dest != "help":
            assert action.help, f"--{action.dest} has no help"
    args = parser.parse_args(["infer", "m.onnx", "a.png", "--decoder", "yolo", "--input-size", "640x480"])
    assert args.input_size == (640, 480) and callable(args.func)


def test_labels_and_keys_parsing(tmp_path, vision_models):
    assert parse_labels("a, b,c") == ("a", "b", "c")
    assert parse_labels(None) is None
    raw = vision_models.trusted_keys["test"]
    for name, content in (("raw", raw), ("hex", raw.hex().encode()), ("b64", __import__("base64").b64encode(raw))):
        (tmp_path / name).write_bytes(content)
        assert read_public_key(tmp_path / name) == raw
    (tmp_path / "bad").write_text("hello")
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        read_public_key(tmp_path / "bad")


def test_tar_archive_package(vision_models, images, key_file, tmp_path):
    import tarfile

    archive = tmp_path / "yolo.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(vision_models.yolo, arcname="test-yolo-1.0.0")
    proc = infer(archive, images[0], "--trusted-key", key_file)
    assert proc.returncode == 0, proc.stderr
    assert lines(proc)[0]["model"] == "test-yolo"

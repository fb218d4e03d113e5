"""The whole train -> export -> evaluate -> package -> sign path, at smoke size (seconds, not minutes)."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from edge_runtime.vision.model_runner import ModelRunner
from models.camera.render import random_scene
from models.signing import PUBLIC_KEY_FILE, key_id, read_key
from models.camera.train import main
from models.package import load_package


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("smoke") / "package"
    key = out.parent / "dev.key"
    progress = io.StringIO()
    with contextlib.redirect_stdout(progress):
        assert main(["--out", str(out), "--smoke", "--signing-key", str(key)]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    return out, progress.getvalue()


@pytest.fixture(scope="module")
def smoke_package(smoke_run: tuple[Path, str]) -> Path:
    return smoke_run[0]


def _trusted(package: Path) -> dict[str, bytes]:
    pub = read_key(package / PUBLIC_KEY_FILE)
    return {key_id(pub): pub}


def test_the_package_verifies_and_describes_itself(smoke_package: Path) -> None:
    package = load_package(smoke_package, trusted_keys=_trusted(smoke_package))
    m = package.manifest
    assert package.signed_by is not None
    assert m.labels == ("person", "no_helmet", "no_vest", "person_down")
    assert {(a.format, a.precision) for a in m.artifacts} == {("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")}
    int8 = m.artifact("tflite", "int8")
    assert int8 is not None and set(int8.quantization) == {"images", "detections"}
    assert m.decoder is not None
    assert (m.decoder.type, m.decoder.box_format, m.decoder.normalized, m.decoder.has_objectness) == (
        "yolo", "cxcywh", True, False)
    for key in ("map50_fp32", "map50_int8", "map50_onnx", "precision", "recall", "test_images"):
        assert key in m.metrics
    assert m.training_run_id and m.created


def test_progress_is_one_json_object_per_line(smoke_run: tuple[Path, str]) -> None:
    events = [json.loads(line)["event"] for line in smoke_run[1].splitlines()]
    assert events[0] == "data" and events[-1] == "package"
    assert {"epoch", "export", "eval"} <= set(events)


def test_tflite_and_onnx_agree(smoke_package: Path) -> None:
    package = load_package(smoke_package, trusted_keys=_trusted(smoke_package))
    frame, _ = random_scene(np.random.default_rng(4), 320, 240)
    outputs = {}
    for backend in ("litert:fp32", "onnxruntime:fp32", "litert:int8"):
        runner = ModelRunner.from_package(package, backend=backend)
        outputs[backend] = runner.raw(frame)[0][1]
        runner.close()
    assert outputs["litert:fp32"].shape == (1, package.manifest.outputs[0].shape[1], 8)
    np.testing.assert_allclose(outputs["litert:fp32"], outputs["onnxruntime:fp32"], atol=1e-4)
    int8 = package.manifest.artifact("tflite", "int8")
    assert int8 is not None
    scale = int8.quantization["detections"][0]
    assert np.max(np.abs(outputs["litert:int8"] - outputs["litert:fp32"])) < 0.1 + 4 * scale

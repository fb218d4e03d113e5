"""The shipped default camera model: verifies under its public key, claims measured accuracy, and sees people."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.vision.model_runner import ModelRunner
from models.camera import DEFAULT_PACKAGE
from models.camera.render import render_scene
from models.camera.scene import PersonSpec
from models.signing import PUBLIC_KEY_FILE, key_id, read_key
from models.package import load_package

pytestmark = pytest.mark.skipif(not (DEFAULT_PACKAGE / "manifest.json").exists(), reason="default package not built")


def _trusted() -> dict[str, bytes]:
    pub = read_key(DEFAULT_PACKAGE / PUBLIC_KEY_FILE)
    return {key_id(pub): pub}


def test_it_is_signed_small_and_measured() -> None:
    package = load_package(DEFAULT_PACKAGE, trusted_keys=_trusted())
    m = package.manifest
    assert package.signed_by is not None
    assert sum(f.stat().st_size for f in Path(DEFAULT_PACKAGE).iterdir()) < 3_000_000
    assert m.metrics["test_images"] >= 300
    for suffix in ("fp32", "int8", "onnx"):
        assert m.metrics[f"map50_{suffix}"] > 0.65, m.metrics


@pytest.mark.parametrize("backend", ["litert:int8", "litert:fp32", "onnxruntime:fp32"])
def test_every_artifact_finds_the_worker_without_a_helmet(backend: str) -> None:
    people = [
        PersonSpec(90, 220, 170, "standing", helmet=True, vest=True, appearance=11),
        PersonSpec(230, 225, 170, "standing", helmet=False, vest=True, appearance=12),
    ]
    frame, _ = render_scene(people, width=320, height=240, seed=3)
    runner = ModelRunner.load(DEFAULT_PACKAGE, backend=backend, trusted_keys=_trusted())
    try:
        detections, _ = runner.detect(frame)
    finally:
        runner.close()
    assert {d.label for d in detections} >= {"person", "no_helmet"}, detections

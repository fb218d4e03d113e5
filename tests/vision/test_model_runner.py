"""ModelRunner: load, detect, lineage - and every way a new model can fail while the old one keeps running."""
from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable
from edge_runtime.vision.backends.litert import LiteRTConfig
from edge_runtime.vision.backends.registry import Registry, discover
from edge_runtime.vision.model_runner import ModelRunner
from models.package import PackageError, load_package, sha256_file
from tests.vision.conftest import sample_image

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

FRAME = sample_image(5, (480, 640))


@pytest.fixture
def runner(vision_models):
    r = ModelRunner.load(vision_models.yolo, trusted_keys=vision_models.trusted_keys)
    yield r
    r.close()


def _copy(src: Path, dst: Path, edit_manifest=None, edit_files=None) -> Path:
    """An unsigned copy of a package, its manifest edited and its hashes recomputed after ``edit_files``."""
    shutil.copytree(src, dst)
    (dst / "manifest.sig").unlink()
    manifest = json.loads((dst / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        if edit_files:
            edit_files(dst / art["path"])
            art["sha256"] = sha256_file(dst / art["path"])
    if edit_manifest:
        edit_manifest(manifest)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_load_detect_lineage(runner, vision_models):
    detections, timings = runner.detect(FRAME)
    assert detections and all(d.label in ("person", "helmet", "vest") for d in detections)
    for d in detections:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
    assert timings.inference_ms > 0 and timings.total_ms >= timings.inference_ms
    lin = runner.lineage
    manifest = load_package(vision_models.yolo).manifest
    art = manifest.artifact(lin.format, lin.precision)
    assert (lin.model, lin.version, lin.backend) == ("test-yolo", "1.0.0", runner.backend_key)
    assert lin.sha256 == art.sha256 and lin.as_dict()["sha256"] == art.sha256
    assert runner.package.signed_by == "test"


def test_raw_outputs_named_as_the_manifest(runner):
    raw = runner.raw(FRAME)
    assert [(n, a.shape, a.dtype) for n, a in raw] == [("output0", (1, 7, 64), np.float32)]


def _matched(a, b, score_tol: float, min_iou: float) -> bool:
    """Every detection of ``a`` has one in ``b`` with its label, a close score and an overlapping box."""
    from edge_runtime.vision.postprocess import pairwise_iou

    if not a:
        return True
    if not b:
        return False
    boxes_b = np.array([d.box for d in b], np.float32)
    for d in a:
        overlap = pairwise_iou(np.array([d.box], np.float32), boxes_b)[0]
        if not any(o >= min_iou and e.label == d.label and abs(e.score - d.score) <= score_tol
                   for o, e in zip(overlap, b)):
            return False
    return True


@pytest.mark.parametrize("preferred", ["litert:fp32", "litert:int8", "onnxruntime"])
@pytest.mark.parametrize("model", ["yolo", "ssd"])
def test_every_backend_detects_the_same_things(vision_models, model, preferred):
    path = getattr(vision_models, model)
    ref = ModelRunner.load(path, backend="onnxruntime", require_signature=False)
    run = ModelRunner.load(path, backend=preferred, require_signature=False)
    score_tol, min_iou = (0.05, 0.8) if preferred.endswith("int8") else (1e-3, 0.99)
    threshold = ref.manifest.decoder.conf_threshold
    for seed in range(3):
        frame = sample_image(seed, (480, 640))
        a, _ = ref.detect(frame)
        b, _ = run.detect(frame)
        assert a, "the test model should detect something"
        # a detection scored near the threshold may fall either side: only clear ones must match
        clear_a = [d for d in a if d.score > threshold + score_tol]
        clear_b = [d for d in b if d.score > threshold + score_tol]
        assert _matched(clear_a, b, score_tol, min_iou) and _matched(clear_b, a, score_tol, min_iou)
        if not preferred.endswith("int8"):
            assert len(a) == len(b)


def test_config_picks_the_backend_and_per_key_configs(vision_models):
    r = ModelRunner.load(vision_models.yolo, config=LiteRTConfig(num_threads=1), require_signature=False)
    assert r.backend_key == "litert" and r.backend.config.num_threads == 1
    r = ModelRunner.load(vision_models.yolo, backend="onnxruntime", require_signature=False,
                         config={"onnxruntime": {"num_threads": 1}, "litert": {"num_threads": 3}})
    assert r.backend_key == "onnxruntime" and r.backend.config.num_threads == 1


# --------------------------------------------------------------------------- failures keep the old runner


def _still_serving(runner: ModelRunner, before) -> None:
    after, _ = runner.detect(FRAME)
    assert after == before


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _scramble(path: Path) -> None:
    path.write_bytes(bytes(b ^ 0x5A for b in path.read_bytes()))


def _wrong_shape(manifest: dict) -> None:
    manifest["inputs"][0]["shape"] = [1, 128, 128, 3]


@pytest.mark.parametrize("backend", ["litert:fp32", "litert:int8", "onnxruntime"])
@pytest.mark.parametrize(
    "broken, error, message",
    [
        ({"edit_files": _truncate}, BackendError, "not a loadable"),
        ({"edit_files": _scramble}, BackendError, "not a loadable"),
        ({"edit_manifest": _wrong_shape}, BackendError, r"does not match the manifest's images \(1, 128, 128, 3\)"),
    ],
    ids=["truncated", "corrupt", "wrong-input-shape"],
)
def test_bad_new_model_keeps_the_previous_one(runner, vision_models, tmp_path, backend, broken, error, message):
    before, _ = runner.detect(FRAME)
    bad = _copy(vision_models.yolo, tmp_path / "bad", **broken)
    with pytest.raises(error, match=message):
        runner = runner.swap(ModelRunner.load(bad, backend=backend, require_signature=False))
    _still_serving(runner, before)


def test_tampered_or_truncated_artifact_is_a_package_error(runner, vision_models, tmp_path):
    before, _ = runner.detect(FRAME)
    bad = tmp_path / "tampered"
    shutil.copytree(vision_models.yolo, bad)
    _truncate(bad / "yolo_fp32.tflite")  # the manifest's sha256 no longer matches
    with pytest.raises(PackageError, match="does not match its sha256"):
        runner = runner.swap(ModelRunner.load(bad, trusted_keys=vision_models.trusted_keys))
    _still_serving(runner, before)


def test_unsigned_or_wrongly_signed_is_a_package_error(runner, vision_models, tmp_path):
    before, _ = runner.detect(FRAME)
    unsigned = _copy(vision_models.yolo, tmp_path / "unsigned")
    with pytest.raises(PackageError, match="unsigned package"):
        runner = runner.swap(ModelRunner.load(unsigned, trusted_keys=vision_models.trusted_keys))
    edited = tmp_path / "edited"
    shutil.copytree(vision_models.yolo, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["labels"] = ["person", "helmet", "intruder"]
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="signature does not verify"):
        runner = runner.swap(ModelRunner.load(edited, trusted_keys=vision_models.trusted_keys))
    _still_serving(runner, before)


def test_missing_runtime_keeps_the_previous_one(runner, vision_models):
    """The registry gets an entry whose import fails: no sys.modules patching."""

    def ghost():
        return importlib.import_module("siteguard_ghost_runtime").BACKEND

    before, _ = runner.detect(FRAME)
    registry = Registry({**discover(), "ghost": ghost})
    with pytest.raises(BackendUnavailable, match="ghost.*siteguard_ghost_runtime"):
        runner = runner.swap(ModelRunner.load(vision_models.yolo, backend="ghost", registry=registry,
                                              trusted_keys=vision_models.trusted_keys))
    only_ghost = Registry({"ghost": ghost})
    with pytest.raises(BackendUnavailable, match="no back-end here can run this package.*siteguard_ghost_runtime"):
        runner = runner.swap(ModelRunner.load(vision_models.yolo, registry=only_ghost,
                                              trusted_keys=vision_models.trusted_keys))
    _still_serving(runner, before)


def test_outputs_that_do_not_decode_fail_at_load(runner, vision_models, tmp_path):
    """Four labels for a 3-class head: the warm-up frame catches it before the swap."""
    before, _ = runner.detect(FRAME)

    def four_labels(manifest):
        manifest["labels"] = ["a", "b", "c", "d"]

    bad = _copy(vision_models.yolo, tmp_path / "labels", edit_manifest=four_labels)
    with pytest.raises(BackendError, match="outputs do not decode"):
        runner = runner.swap(ModelRunner.load(bad, require_signature=False))
    _still_serving(runner, before)


def test_unsupported_decoder_is_a_package_error(vision_models, tmp_path):
    def grid(manifest):
        manifest["decoder"]["type"] = "grid"

    bad = _copy(vision_models.yolo, tmp_path / "grid", edit_manifest=grid)
    with pytest.raises(PackageError, match="decoder 'grid' is not supported"):
        ModelRunner.load(bad, require_signature=False)


def test_swap_hands_over_and_releases_the_old(runner, vision_models):
    new = ModelRunner.load(vision_models.ssd, trusted_keys=vision_models.trusted_keys)
    old = runner
    runner = old.swap(new)
    assert runner is new and runner.lineage.model == "test-ssd"
    assert runner.detect(FRAME)[0]
    with pytest.raises(BackendError, match="no model loaded"):
        old.detect(FRAME)
    assert runner.swap(runner) is runner


# --------------------------------------------------------------------------- the project's trained model


def test_default_package_runs_on_every_backend(default_package):
    """The colleague's trained model, when present: every back-end that can run it agrees."""
    package = load_package(default_package, require_signature=False)
    frame = sample_image(11, (480, 640))
    outputs = {}
    for art in package.manifest.artifacts:
        key = {"tflite": "litert", "onnx": "onnxruntime"}.get(art.format)
        if key is None:
            continue
        runner = ModelRunner.from_package(package, backend=f"{key}:{art.precision}")
        outputs[(key, art.precision)] = runner.raw(frame)
        runner.detect(frame)
        runner.close()
    fp32 = [v for (k, p), v in outputs.items() if p == "fp32"]
    for other in fp32[1:]:
        for (_, a), (_, b) in zip(fp32[0], other):
            np.testing.assert_allclose(a, b, atol=1e-3)
    if ("litert", "int8") in outputs and fp32:
        for (_, a), (_, b) in zip(fp32[0], outputs[("litert", "int8")]):
            assert float(np.abs(a - b).mean()) < 0.05 * max(1.0, float(np.abs(a).max()))

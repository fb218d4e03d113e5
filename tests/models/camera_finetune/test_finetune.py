"""A fine-tune of the shipped model on rendered frames with their true boxes: one epoch, gated, packaged, signed."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from edge_runtime.vision.model_runner import ModelRunner
from models.camera import DEFAULT_PACKAGE
from models.camera.finetune import FineTuneError, FineTuneResult, fine_tune, holdout_split, to_split
from models.camera.render import render_scene
from models.camera.scene import PersonSpec
from models.package import load_package
from models.signing import key_id, public_key

from .frames import labelled_frames

KEY = os.urandom(32)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FineTuneResult, list[tuple[float, str]]]:
    reports: list[tuple[float, str]] = []
    result = fine_tune(DEFAULT_PACKAGE, labelled_frames(40), epochs=1, seed=3,
                       out_dir=tmp_path_factory.mktemp("finetune") / "package", signing_key=KEY, version="1.1.0",
                       parent_version="1.0.0", run_id="camera-finetune-test", progress=lambda f, m: reports.append((f, m)),
                       rendered_images=48, compiled=False)
    return result, reports


def test_it_passes_the_gate_and_is_a_signed_package_with_lineage(run: tuple[FineTuneResult, list]) -> None:
    result, _ = run
    assert result.gate_passed and result.reasons == ()
    pub = public_key(KEY)
    package = load_package(result.package_dir, trusted_keys={key_id(pub): pub})
    m = package.manifest
    assert package.signed_by == key_id(pub)
    assert (m.version, m.parent_version, m.training_run_id) == ("1.1.0", "1.0.0", "camera-finetune-test")
    assert {(a.format, a.precision) for a in m.artifacts} == {("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")}
    assert {(a.format, a.target) for a in m.artifacts} == {("tflite", "pi4"), ("onnx", "x86")}
    assert set(m.checks) == {a.path for a in m.artifacts} == set(result.build["built"])  # each checked at build
    assert all(c.recall >= c.reference_recall - c.margin and c.recall_by_class for c in m.checks.values())
    base = load_package(DEFAULT_PACKAGE).manifest
    assert m.decoder == base.decoder and m.labels == base.labels
    for key in ("map50_int8", "recall_int8", "precision", "recall", "hard_map50_int8", "hard_recall_int8",
                "base_map50_int8", "base_hard_map50_int8", "test_images", "hard_test_images", "train_frames"):
        assert key in m.metrics, key
    assert (m.metrics["test_images"], m.metrics["hard_test_images"], m.metrics["train_frames"]) == (48, 8, 32)


def test_base_and_new_are_measured_on_both_sets(run: tuple[FineTuneResult, list]) -> None:
    result, _ = run
    for metrics in (result.metrics_base, result.metrics_new):
        assert set(metrics) == set(result.metrics_base)
        assert 0.5 < metrics["map50_int8"] <= 1 and 0 < metrics["hard_map50_int8"] <= 1
        assert {"ap50_person_int8", "ap50_no_helmet_int8", "ap50_no_vest_int8", "ap50_person_down_int8"} <= set(metrics)
    assert abs(result.metrics_new["map50_int8"] - result.metrics_base["map50_int8"]) < 0.1  # one gentle epoch


def test_progress_goes_from_start_to_end_through_the_epochs(run: tuple[FineTuneResult, list]) -> None:
    _, reports = run
    fractions = [f for f, _ in reports]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any(m.startswith("epoch 1/1") for _, m in reports)
    assert "signed" in reports[-1][1]


def test_the_new_model_runs_on_the_edge_path(run: tuple[FineTuneResult, list]) -> None:
    result, _ = run
    people = [PersonSpec(90, 220, 170, "standing", appearance=11), PersonSpec(230, 225, 170, "standing", helmet=False)]
    frame, _ = render_scene(people, width=320, height=240, seed=3)
    runner = ModelRunner.load(result.package_dir, backend="litert:int8")
    try:
        detections, _ = runner.detect(frame)
    finally:
        runner.close()
    assert {d.label for d in detections} >= {"person", "no_helmet"}, detections


def test_bad_input_is_refused_naming_the_problem(tmp_path: Path) -> None:
    frames = labelled_frames(6)
    image, boxes, _labels = frames[0]
    with pytest.raises(FineTuneError, match="frame 1: labels \\['forklift'\\]"):
        to_split([frames[0], (image, boxes[:1], ["forklift"])])
    with pytest.raises(FineTuneError, match="frame 0: boxes must be"):
        to_split([(image, np.array([[0.5, 0.2, 0.4, 0.9]]), ["person"])])
    with pytest.raises(FineTuneError, match="RGB uint8"):
        to_split([(image.astype(np.float32), boxes, _labels)])
    with pytest.raises(FineTuneError, match="need at least 8"):
        holdout_split(to_split(frames), seed=1, share=0.2, minimum=4)
    common = dict(epochs=1, seed=1, signing_key=KEY, version="2", run_id="r", progress=lambda f, m: None)
    with pytest.raises(FineTuneError, match="not the base package's version '1.0.0'"):
        fine_tune(DEFAULT_PACKAGE, labelled_frames(10), out_dir=tmp_path / "a", parent_version="0.9.0", **common)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.sig").write_bytes(b"old")
    with pytest.raises(FineTuneError, match="must be new or empty"):
        fine_tune(DEFAULT_PACKAGE, labelled_frames(10), out_dir=tmp_path / "b", parent_version=None, **common)


def test_the_split_is_seeded_and_disjoint() -> None:
    split = to_split(labelled_frames(12))
    train, held = holdout_split(split, seed=4, share=0.25, minimum=2)
    again, _ = holdout_split(split, seed=4, share=0.25, minimum=2)
    assert (len(train), len(held)) == (9, 3)
    assert all(a is b for a, b in zip(train.frames, again.frames))
    assert not {id(f) for f in train.frames} & {id(f) for f in held.frames}

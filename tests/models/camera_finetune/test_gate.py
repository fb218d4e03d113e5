"""The gate: a model fine-tuned on frames whose classes are shuffled is refused, with the reason, and left unsigned."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from models.camera import DEFAULT_PACKAGE
from models.camera.finetune import GateConfig, fine_tune, gate_reasons
from models.package import SIGNATURE, PackageError, load_package
from models.signing import key_id, public_key

from .frames import labelled_frames


def test_wrong_labels_are_refused_on_the_rendered_set(tmp_path_factory: pytest.TempPathFactory) -> None:
    key = os.urandom(32)
    result = fine_tune(DEFAULT_PACKAGE, labelled_frames(40, shuffle_classes=True), epochs=3, seed=3,
                       out_dir=tmp_path_factory.mktemp("gate") / "package", signing_key=key, version="1.1.0",
                       parent_version="1.0.0", run_id="shuffled", progress=lambda f, m: None, rendered_images=48,
                       compiled=False)
    assert not result.gate_passed
    assert any(reason.startswith("rendered ") for reason in result.reasons), result.reasons
    rendered = [r for r in result.reasons if r.startswith("rendered recall")]
    assert rendered and result.metrics_new["recall_int8"] < result.metrics_base["recall_int8"] - 0.03
    assert not (result.package_dir / SIGNATURE).exists()
    pub = public_key(key)
    with pytest.raises(PackageError, match="unsigned"):
        load_package(result.package_dir, trusted_keys={key_id(pub): pub})
    assert load_package(result.package_dir).manifest.metrics["base_recall_int8"] == result.metrics_base["recall_int8"]


def test_the_gate_names_each_set_and_measure_that_lost_too_much() -> None:
    base = {"map50_int8": 0.70, "recall_int8": 0.60, "test_objects": 10_000.0,
            "hard_map50_int8": 0.50, "hard_recall_int8": 0.40, "hard_test_objects": 10_000.0}
    assert gate_reasons(base, {**base, "map50_int8": 0.69, "hard_recall_int8": 0.38}, GateConfig()) == []
    reasons = gate_reasons(base, {**base, "map50_int8": 0.60, "hard_recall_int8": 0.30}, GateConfig())
    assert reasons == ["rendered map50 0.600 < base 0.700 - 0.020", "hard recall 0.300 < base 0.400 - 0.030"]


def test_a_small_set_allows_its_standard_error() -> None:
    base = {"map50_int8": 0.70, "recall_int8": 0.60, "test_objects": 10_000.0,
            "hard_map50_int8": 0.80, "hard_recall_int8": 0.60, "hard_test_objects": 25.0}
    # 25 objects: the standard error of 0.8 is 0.08, of 0.6 about 0.098
    assert gate_reasons(base, {**base, "hard_map50_int8": 0.73, "hard_recall_int8": 0.51}, GateConfig()) == []
    assert gate_reasons(base, {**base, "hard_map50_int8": 0.71}, GateConfig()) == [
        "hard map50 0.710 < base 0.800 - 0.080"]

"""A TensorRT engine built in the cloud for a Jetson profile whose GPU and TensorRT this machine has: the shipped
camera detector built fp16 from its ONNX, run through the edge's TensorRT back-end on rendered held-out scenes and
checked against the float serving function like every other artifact; for a profile of another GPU the device
builds the engine (``device_builds``) and none is shipped.

Runs where ``tensorrt`` and ``pycuda`` import and a CUDA GPU is present; skipped elsewhere with the reason.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorrt", reason="tensorrt is not installed: no engine can be built here, so builds for "
                                       "Jetson profiles ship ONNX and the device builds and caches the engine")
pytest.importorskip("pycuda.driver", reason="pycuda is not installed: an engine cannot be run here to be checked")
pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from edge_runtime.vision.backends.engine_cache import DeviceProfile
from models.build.builder import build
from models.build.targets import BuildTarget, GpuTarget
from models.build.tensorrt import LocalGpu, local_gpu
from models.camera import DEFAULT_PACKAGE
from models.camera.build import CameraFamily
from models.camera.dataset import render_split
from models.camera.runtime_path import letterbox
from models.package import load_package

MARGIN = 0.05


@pytest.fixture(scope="module")
def gpu() -> LocalGpu:
    found = local_gpu()
    if isinstance(found, str):
        pytest.skip(f"no TensorRT builder here: {found}")
    return found


@pytest.fixture(scope="module")
def family_parts() -> tuple[object, object, object, np.ndarray]:
    from models.camera.export import serving_function
    from models.camera.model import build_exportable
    from models.camera.recover import trainable_from_package

    manifest = load_package(DEFAULT_PACKAGE).manifest
    frozen = serving_function(build_exportable(trainable_from_package(DEFAULT_PACKAGE)))
    size = manifest.inputs[0].shape[1]
    canvases = np.stack([letterbox(frame, size)[0] for frame in render_split(4, "train", 16).frames])
    return frozen, manifest, render_split(9, "test", 24), canvases


def test_an_engine_for_this_gpu_is_built_checked_and_shipped(gpu: LocalGpu, family_parts: tuple,
                                                             tmp_path: Path) -> None:
    frozen, manifest, held_out, canvases = family_parts
    target = BuildTarget("jetson-test", gpu=GpuTarget(gpu.compute_capability, gpu.trt_version, "fp16"))
    report = build(CameraFamily(frozen, manifest, tmp_path, held_out, canvases), [target], tmp_path, margin=MARGIN)
    assert not report.refused and report.device_builds == [], (report.refused, report.notes)
    engines = [a for a in report.artifacts() if a.format == "tensorrt"]
    assert [(a.precision, a.target) for a in engines] == [("fp16", target.gpu.tag("jetson-test"))]  # type: ignore[union-attr]
    assert DeviceProfile(gpu.name, gpu.compute_capability, gpu.trt_version).mismatch(engines[0].target) is None
    numbers = report.checks()[engines[0].path]
    assert numbers.recall >= numbers.reference_recall - MARGIN and numbers.recall_by_class


def test_a_profile_of_another_gpu_is_left_to_the_device(gpu: LocalGpu, family_parts: tuple, tmp_path: Path) -> None:
    frozen, manifest, held_out, canvases = family_parts
    other = (gpu.compute_capability[0], gpu.compute_capability[1] + 1)
    target = BuildTarget("jetson-other", gpu=GpuTarget(other, gpu.trt_version))
    report = build(CameraFamily(frozen, manifest, tmp_path, held_out, canvases), [target], tmp_path, margin=MARGIN)
    assert report.device_builds == ["jetson-other"] and [a.format for a in report.artifacts()] == ["onnx"]
    assert "the profile needs" in report.notes[0]

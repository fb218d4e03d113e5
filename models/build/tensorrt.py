"""TensorRT engines built in the cloud, for a Jetson profile whose GPU and TensorRT this machine has.

An engine runs only on the compute capability and TensorRT minor version it
was built with, so the cloud builds one only where ``tensorrt`` imports here,
this machine's GPU has the profile's compute capability and the installed
TensorRT is the profile's X.Y (:func:`builder_for`); anywhere else the device
builds the engine from the ONNX artifact and caches it (the edge's engine
cache), and the manifest says so (``device_builds``).

Written against the TensorRT 10 Python API (``Builder``, ``OnnxParser``,
``build_serialized_network``; explicit batch only) with pycuda for the int8
calibrator's device buffers, the same pair the edge's TensorRT back-end
uses. ``tensorrt`` and ``pycuda`` are imported by the functions that need
them, never at module level: this module loads on every trainer.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .targets import GpuTarget, Precision, major_minor

log = logging.getLogger(__name__)
NVIDIA_SMI_TIMEOUT_S = 10.0


class EngineBuildError(RuntimeError):
    """TensorRT could not build an engine from the ONNX model; the message says why (parser or builder)."""


@dataclass(frozen=True, slots=True)
class LocalGpu:
    """This machine's GPU and TensorRT: what an engine built here is tied to."""

    name: str
    compute_capability: tuple[int, int]
    trt_version: str


def local_gpu(device: int = 0) -> LocalGpu | str:
    """This machine's GPU and TensorRT, or why there is no builder here."""
    try:
        import tensorrt as trt
    except ImportError:
        return "tensorrt is not installed on this machine"
    found = _pycuda_gpu(device) or _nvidia_smi_gpu(device)
    if isinstance(found, str):
        return found
    return LocalGpu(found[0], found[1], trt.__version__)


def builder_for(target: GpuTarget, device: int = 0) -> LocalGpu | str:
    """The local builder when it matches ``target`` exactly (compute capability and TensorRT X.Y), else why not."""
    local = local_gpu(device)
    if isinstance(local, str):
        return local
    if local.compute_capability != target.compute_capability:
        have = "sm{}{}".format(*local.compute_capability)
        return f"this machine's GPU ({local.name}) is {have}, the profile needs {target.sm}"
    if major_minor(local.trt_version) != major_minor(target.trt_version):
        return f"this machine has TensorRT {local.trt_version}, the profile needs {major_minor(target.trt_version)}"
    return local


def _pycuda_gpu(device: int) -> tuple[str, tuple[int, int]] | str | None:
    try:
        import pycuda.driver as cuda
    except ImportError:
        return None
    try:
        cuda.init()
        dev = cuda.Device(device)
        return dev.name(), tuple(dev.compute_capability())  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - pycuda._driver.Error, or no driver library
        return f"no CUDA device {device} ({exc})"


def _nvidia_smi_gpu(device: int) -> tuple[str, tuple[int, int]] | str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "neither pycuda nor nvidia-smi is here to name the GPU"
    try:
        out = subprocess.run([smi, f"--id={device}", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True).stdout
        name, cc = (part.strip() for part in out.strip().splitlines()[0].rsplit(",", 1))
        major, minor = (int(p) for p in cc.split("."))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return f"nvidia-smi could not name GPU {device}: {exc}"
    return name, (major, minor)


def build_engine(onnx: bytes, input_shape: tuple[int, ...], precision: Precision, *,
                 calibration: np.ndarray | None = None, workspace_mb: int = 1024) -> bytes:
    """A serialized engine from ONNX bytes, for this machine's GPU (raises :class:`EngineBuildError`).

    ``input_shape`` fixes the optimisation profile of a dynamic input;
    ``calibration`` (rows shaped like the input, float32) is required for
    int8 and fed to an entropy calibrator.
    """
    import tensorrt as trt

    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"ONNX parser: {errors or 'parse failed'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if any(-1 in tuple(t.shape) for t in inputs):
        profile = builder.create_optimization_profile()
        for tensor in inputs:
            profile.set_shape(tensor.name, input_shape, input_shape, input_shape)
        config.add_optimization_profile(profile)
        if precision == "int8":
            config.set_calibration_profile(profile)
    if precision in ("fp16", "int8") and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    scope: Any = contextlib.nullcontext()
    if precision == "int8":
        if calibration is None or not len(calibration):
            raise EngineBuildError("int8 needs calibration rows")
        scope = _int8_calibrator(trt, np.ascontiguousarray(calibration, np.float32))
    with scope as calibrator:
        if calibrator is not None:
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = calibrator  # referenced until the build is done
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT could not build a {precision} engine (see the tensorrt log lines)")
    return bytes(serialized)


def _logger(trt: Any) -> Any:
    """TensorRT's messages into ``logging`` (warnings and errors; the rest at debug)."""

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            bad = severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR)
            level = logging.ERROR if bad else logging.WARNING if severity == trt.ILogger.Severity.WARNING else logging.DEBUG
            log.log(level, "tensorrt: %s", msg)

    return Logger()


@contextlib.contextmanager
def _int8_calibrator(trt: Any, rows: np.ndarray) -> Iterator[Any]:
    """An entropy calibrator feeding ``rows`` one by one from a device buffer, in device 0's primary context
    (the one TensorRT's runtime API uses), pushed for the build and popped after it."""
    import pycuda.driver as cuda

    cuda.init()
    ctx = cuda.Device(0).retain_primary_context()
    ctx.push()
    buffer = None
    try:
        buffer = cuda.mem_alloc(rows[0].nbytes)
        batches = iter(rows)

        class Calibrator(trt.IInt8EntropyCalibrator2):
            def __init__(self) -> None:
                trt.IInt8EntropyCalibrator2.__init__(self)

            def get_batch_size(self) -> int:
                return 1  # each calibration row is one input tensor, batch dimension included

            def get_batch(self, names: list[str]) -> list[int] | None:
                row = next(batches, None)
                if row is None:
                    return None
                cuda.memcpy_htod(buffer, np.ascontiguousarray(row))
                return [int(buffer)]

            def read_calibration_cache(self) -> None:
                return None  # calibrate from the rows, never from a stale cache

            def write_calibration_cache(self, cache: bytes) -> None:
                return None

        yield Calibrator()
    finally:
        if buffer is not None:
            buffer.free()
        ctx.pop()
        ctx.detach()

"""TensorRT back-end (TensorRT 10 + pycuda): engines on an NVIDIA GPU (Jetson, dGPU).

Loading: a shipped engine whose target profile matches this GPU and
TensorRT version is deserialised as is; otherwise (another GPU, another
TensorRT, or only ONNX in the package) an engine is built from the package's
ONNX artifact with ``trt.Builder`` + ``OnnxParser`` - fp16 when the GPU has
fast fp16, int8 only with a calibration cache - and cached on disk by
(model sha256, GPU + compute capability, TensorRT version, precision), see
:mod:`engine_cache`. A build takes seconds to minutes; the cache makes it once
per device and model.

Running: one pagelocked host buffer and one device buffer per I/O tensor,
allocated once; per frame: async H2D copy, ``execute_async_v3`` on a CUDA
stream, async D2H copies, synchronise. All CUDA calls happen with the
device's primary context pushed (the context TensorRT's runtime API uses),
popped afterwards, so the worker thread owns no context between frames.

``tensorrt`` and ``pycuda`` are imported only by ``capabilities()`` and
``load()``; the planning logic (:func:`engine_plan`) is pure Python.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable, Capabilities, InferenceBackend
from edge_runtime.vision.backends.engine_cache import DEFAULT_CACHE_DIR, DeviceProfile, EngineCache, EngineKey
from edge_runtime.vision.backends.registry import check_input, order_outputs
from models.package import Artifact, Manifest, ModelPackage

KEY = "tensorrt"
log = logging.getLogger(__name__)


class TensorRTConfig(BaseModel):
    """Settings of the TensorRT back-end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tensorrt"] = Field(KEY, description="back-end key")
    precision: Literal["fp32", "fp16", "int8"] = Field("fp16", description="precision of engines built on the device")
    workspace_mb: int = Field(1024, ge=16, description="builder workspace memory pool limit (MiB)")
    cache_dir: str = Field(str(DEFAULT_CACHE_DIR), description="where engines built on the device are kept")
    max_cached_engines: int = Field(8, ge=1, description="engines kept in the cache (least recently used go)")
    device: int = Field(0, ge=0, description="CUDA device index")
    calibration_cache: str | None = Field(None, description="int8: a TensorRT calibration cache file (required for int8)")
    build_from_onnx: bool = Field(True, description="build an engine from the ONNX artifact when none fits this GPU")


# --------------------------------------------------------------------------- lazy runtime


def _trt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise BackendUnavailable(f"{KEY}: tensorrt not installed") from None
    return tensorrt


def _cuda() -> Any:
    try:
        import pycuda.driver as cuda
    except ImportError:
        raise BackendUnavailable(f"{KEY}: pycuda not installed") from None
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # noqa: BLE001 - pycuda._driver.Error, or the driver library missing
        raise BackendUnavailable(f"{KEY}: no CUDA device ({exc})") from None
    if count == 0:
        raise BackendUnavailable(f"{KEY}: no CUDA device")
    return cuda


@functools.cache
def device_profile(device: int = 0) -> DeviceProfile:
    """This GPU's name and compute capability, and the installed TensorRT version."""
    return _profile(_trt(), _cuda(), device)


def _profile(trt: Any, cuda: Any, device: int) -> DeviceProfile:
    dev = cuda.Device(device)
    return DeviceProfile(dev.name(), tuple(dev.compute_capability()), trt.__version__)


@functools.cache
def _logger(trt: Any) -> Any:
    """One TensorRT logger per process (TensorRT wants one), forwarding to ``logging``."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = {
                trt.ILogger.Severity.INTERNAL_ERROR: logging.ERROR,
                trt.ILogger.Severity.ERROR: logging.ERROR,
                trt.ILogger.Severity.WARNING: logging.WARNING,
                trt.ILogger.Severity.INFO: logging.DEBUG,
            }.get(severity, logging.DEBUG)
            log.log(level, "tensorrt: %s", msg)

    return _Logger()


# --------------------------------------------------------------------------- planning (pure)


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """Where the engine comes from: a shipped ``engine`` artifact, or a build from ``onnx``."""

    source: Literal["shipped", "build"]
    artifact: Artifact
    reason: str = ""


def engine_plan(manifest: Manifest, artifact: Artifact, device: DeviceProfile, *, allow_build: bool = True) -> EnginePlan:
    """Decide how to get an engine for ``artifact`` on ``device`` (raises BackendError when there is no way)."""
    if artifact.format == "tensorrt":
        mismatch = device.mismatch(artifact.target)
        if mismatch is None:
            return EnginePlan("shipped", artifact)
        onnx = manifest.artifact("onnx")
        if onnx is not None and allow_build:
            return EnginePlan("build", onnx, f"{artifact.path}: {mismatch}")
        raise BackendError(f"{artifact.path}: {mismatch}, and the package has no ONNX to build from")
    if artifact.format == "onnx":
        if not allow_build:
            raise BackendError(f"{artifact.path}: building engines on the device is switched off (build_from_onnx)")
        return EnginePlan("build", artifact, "the package has no engine for this GPU")
    raise BackendError(f"{KEY} cannot run {artifact.format} artifacts")


# --------------------------------------------------------------------------- building


def build_engine(onnx_bytes: bytes, input_shape: tuple[int, ...], config: TensorRTConfig, trt: Any = None) -> bytes:
    """Parse ONNX, configure precision and workspace, build and serialise (needs the GPU)."""
    trt = trt or _trt()
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))  # IParserError has __str__
        raise BackendError(f"{KEY}: ONNX parser: {errors or 'parse failed'}")
    bconfig = builder.create_builder_config()
    bconfig.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mb << 20)
    dynamic = [network.get_input(i) for i in range(network.num_inputs) if -1 in tuple(network.get_input(i).shape)]
    if dynamic:
        if min(input_shape) <= 0:
            raise BackendError(f"{KEY}: the model's input is dynamic and the manifest gives no static shape")
        profile = builder.create_optimization_profile()
        for tensor in dynamic:
            profile.set_shape(tensor.name, input_shape, input_shape, input_shape)
        bconfig.add_optimization_profile(profile)
    calibrator = None
    if config.precision in ("fp16", "int8"):
        if getattr(builder, "platform_has_fast_fp16", True):
            bconfig.set_flag(trt.BuilderFlag.FP16)
        else:
            log.warning("tensorrt: this GPU has no fast fp16; building fp32")
    if config.precision == "int8":
        if not config.calibration_cache:
            raise BackendError(f"{KEY}: int8 needs a calibration cache (TensorRTConfig.calibration_cache); use fp16")
        try:
            cache = Path(config.calibration_cache).read_bytes()
        except OSError as exc:
            raise BackendError(f"{KEY}: calibration cache {config.calibration_cache}: {exc.strerror or exc}") from None
        bconfig.set_flag(trt.BuilderFlag.INT8)
        calibrator = _cache_calibrator(trt, cache)
        bconfig.int8_calibrator = calibrator  # kept referenced until the build is done
    serialized = builder.build_serialized_network(network, bconfig)
    if serialized is None:
        raise BackendError(f"{KEY}: engine build failed (see the tensorrt log lines)")
    del calibrator
    return bytes(serialized)


def _cache_calibrator(trt: Any, cache: bytes) -> Any:
    """An entropy calibrator that only replays a calibration cache (no images on the device)."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> None:
            return None  # no data: TensorRT must use the cache

        def read_calibration_cache(self) -> bytes:
            return cache

        def write_calibration_cache(self, data: bytes) -> None:
            return None

    return CacheCalibrator()


# --------------------------------------------------------------------------- the back-end


class TensorRTBackend(InferenceBackend):
    key: ClassVar[str] = KEY
    config_model: ClassVar[type[BaseModel]] = TensorRTConfig

    def __init__(self, config: TensorRTConfig | None = None, *, runtime: tuple[Any, Any] | None = None) -> None:
        """``runtime``: the ``(tensorrt, pycuda.driver)`` modules to use; None imports them on load."""
        self.config = config or TensorRTConfig()
        self._modules = runtime
        self.engine_source = ""  # "shipped", "cache" or "built": for the logs and the lineage
        self._cuda: Any = None
        self._ctx: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._input: tuple[np.ndarray, Any] | None = None
        self._outputs: list[tuple[np.ndarray, Any]] = []
        self._device_buffers: list[Any] = []

    @classmethod
    def capabilities(cls) -> Capabilities:
        _trt()
        _cuda()
        return Capabilities(formats=("tensorrt", "onnx"), dtypes=("float32", "float16", "int8"), accelerator="tensorrt")

    @classmethod
    def artifact_mismatch(cls, artifact: Artifact) -> str | None:
        if artifact.format != "tensorrt":
            return None
        return device_profile().mismatch(artifact.target)

    def _engine_bytes(
        self, trt: Any, package: ModelPackage, artifact: Artifact, device: DeviceProfile, *, rebuild: bool = False
    ) -> bytes:
        plan = engine_plan(package.manifest, artifact, device, allow_build=self.config.build_from_onnx)
        if plan.source == "shipped":
            self.engine_source = "shipped"
            return package.path_of(plan.artifact).read_bytes()
        log.info("tensorrt: engine from %s (%s)", plan.artifact.path, plan.reason)
        spec = package.manifest.inputs[0]
        key = EngineKey.for_device(plan.artifact.sha256, device, self.config.precision, spec.shape)
        cache = EngineCache(self.config.cache_dir, max_entries=self.config.max_cached_engines)
        onnx_path = package.path_of(plan.artifact)
        if rebuild:
            cache.discard(key)
        data, built = cache.get_or_build(key, lambda: build_engine(onnx_path.read_bytes(), spec.shape, self.config, trt))
        self.engine_source = "built" if built else "cache"
        return data

    def load(self, package: ModelPackage, artifact: Artifact) -> None:
        trt, cuda = self._modules or (_trt(), _cuda())
        device = _profile(trt, cuda, self.config.device)
        ctx = cuda.Device(self.config.device).retain_primary_context()
        ctx.push()
        try:
            data = self._engine_bytes(trt, package, artifact, device)
            runtime = trt.Runtime(_logger(trt))
            engine = runtime.deserialize_cuda_engine(data)
            onnx = package.manifest.artifact("onnx")
            if engine is None and self.engine_source != "built" and onnx is not None and self.config.build_from_onnx:
                # a shipped engine whose target lied, or a cache entry from a driver since updated: build afresh
                log.warning("tensorrt: %s engine for %s does not deserialise; building from %s",
                            self.engine_source, artifact.path, onnx.path)
                engine = runtime.deserialize_cuda_engine(self._engine_bytes(trt, package, onnx, device, rebuild=True))
            if engine is None:
                raise BackendError(f"{artifact.path}: TensorRT could not deserialise the engine (corrupt, or built elsewhere)")
            self._runtime = runtime  # a runtime must outlive the engines it deserialised
            self._allocate(trt, cuda, engine, package, artifact)
        except BackendError:
            self._release()
            ctx.pop()
            ctx.detach()
            raise
        except Exception as exc:  # noqa: BLE001 - pycuda/TensorRT errors: out of memory, driver...
            self._release()
            ctx.pop()
            ctx.detach()
            raise BackendError(f"{artifact.path}: {type(exc).__name__}: {exc}") from None
        ctx.pop()
        self._cuda, self._ctx = cuda, ctx

    def _allocate(self, trt: Any, cuda: Any, engine: Any, package: ModelPackage, artifact: Artifact) -> None:
        manifest = package.manifest
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(manifest.inputs) != 1:
            raise BackendError(f"{artifact.path}: the engine has {len(inputs)} inputs (one image input is supported)")
        spec = manifest.inputs[0]
        if -1 in tuple(engine.get_tensor_shape(inputs[0])):
            context.set_input_shape(inputs[0], spec.shape)
        in_shape = tuple(context.get_tensor_shape(inputs[0]))
        in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(inputs[0])))
        check_input(spec, in_shape, in_dtype.name, artifact.quantization.get(spec.name))
        out_shapes = [tuple(context.get_tensor_shape(n)) for n in outputs]
        if any(d < 0 for s in out_shapes for d in s):
            raise BackendError(f"{artifact.path}: outputs with data-dependent shapes are not supported: {out_shapes}")
        order = order_outputs(manifest.outputs, outputs, out_shapes)
        self._stream = cuda.Stream()

        def buffers(name: str, shape: tuple[int, ...]) -> tuple[np.ndarray, Any]:
            host = cuda.pagelocked_empty(shape, np.dtype(trt.nptype(engine.get_tensor_dtype(name))))
            dev = cuda.mem_alloc(max(host.nbytes, 1))
            self._device_buffers.append(dev)
            context.set_tensor_address(name, int(dev))
            return host, dev

        self._input = buffers(inputs[0], in_shape)
        self._outputs = [buffers(outputs[i], out_shapes[i]) for i in order]
        self._engine, self._context = engine, context

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self._context is None or self._input is None:
            raise BackendError("tensorrt: no model loaded")
        host_in, dev_in = self._input
        if tensor.shape != host_in.shape:
            raise BackendError(f"tensorrt: input shape {tensor.shape}, the engine takes {host_in.shape}")
        cuda, stream = self._cuda, self._stream
        self._ctx.push()
        try:
            np.copyto(host_in, tensor, casting="unsafe")
            cuda.memcpy_htod_async(dev_in, host_in, stream)
            if not self._context.execute_async_v3(stream_handle=stream.handle):
                raise BackendError("tensorrt: execute_async_v3 failed")
            for host, dev in self._outputs:
                cuda.memcpy_dtoh_async(host, dev, stream)
            stream.synchronize()
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - pycuda.driver.Error and TensorRT's RuntimeErrors
            raise BackendError(f"tensorrt: inference failed: {type(exc).__name__}: {exc}") from None
        finally:
            self._ctx.pop()
        return [host.astype(np.float32) for host, _ in self._outputs]  # copies: the host buffers are reused

    def _release(self) -> None:
        for dev in self._device_buffers:
            try:
                dev.free()
            except Exception as exc:  # noqa: BLE001 - best effort on teardown
                log.debug("tensorrt: freeing a device buffer failed: %s", exc)
        self._device_buffers = []
        self._input, self._outputs = None, []
        self._context = self._engine = self._stream = None
        self._runtime = None

    def close(self) -> None:
        if self._ctx is None:
            return
        self._ctx.push()
        try:
            self._release()
        finally:
            self._ctx.pop()
            self._ctx.detach()
            self._ctx = None


BACKEND = TensorRTBackend

"""ONNX Runtime back-end: ``.onnx`` models on the CPU, or the GPU through ORT's providers.

Providers, in ORT's order of preference: TensorRT and CUDA when this
onnxruntime build has them (``onnxruntime-gpu``, JetPack wheels) and the
config allows, CPU always last so an op a GPU provider lacks still runs.
The module is named ``onnxruntime_backend`` so it never shadows the
``onnxruntime`` package.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable, Capabilities, InferenceBackend
from edge_runtime.vision.backends.registry import (
    ModelDescription,
    Quantizer,
    check_input,
    order_outputs,
    quantizer_for,
    spec_dtype,
)
from models.package import Artifact, ModelPackage, TensorSpec

KEY = "onnxruntime"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


class OnnxRuntimeConfig(BaseModel):
    """Settings of the ONNX Runtime back-end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["onnxruntime"] = Field(KEY, description="back-end key")
    num_threads: int = Field(2, ge=1, le=64, description="intra-op threads of the CPU provider")
    providers: tuple[str, ...] | None = Field(
        None, description="execution providers in order; None = TensorRT, CUDA (when present and use_gpu), CPU"
    )
    use_gpu: bool = Field(True, description="use the CUDA/TensorRT providers when this onnxruntime has them")
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field("all", description="ORT graph optimisation")
    trt_fp16: bool = Field(True, description="TensorRT provider: allow fp16 kernels")
    trt_cache_dir: str | None = Field(None, description="TensorRT provider: where it caches the engines it builds")
    device_id: int = Field(0, ge=0, description="GPU for the CUDA/TensorRT providers")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailable(f"{KEY}: onnxruntime not installed") from None
    return onnxruntime


def _dtype(ort_type: str) -> str:
    return ORT_TYPES.get(ort_type, "float32")


def _session(path: Path, ort: Any, options: Any = None, providers: list[Any] | None = None) -> Any:
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers or [CPU])
    except Exception as exc:  # noqa: BLE001 - ORT's InvalidProtobuf, Fail, NoSuchFile... are plain Exceptions
        raise BackendError(f"{path.name}: not a loadable ONNX model: {exc}") from None


class OnnxRuntimeBackend(InferenceBackend):
    key: ClassVar[str] = KEY
    config_model: ClassVar[type[BaseModel]] = OnnxRuntimeConfig

    def __init__(self, config: OnnxRuntimeConfig | None = None) -> None:
        self.config = config or OnnxRuntimeConfig()
        self._session: Any = None
        self._input_name = ""
        self._input_shape: tuple[Any, ...] = ()
        self._input_dtype = np.dtype(np.float32)
        self._input_q: Quantizer | None = None
        self._output_names: list[str] = []
        self._output_q: list[Quantizer | None] = []

    @classmethod
    def capabilities(cls) -> Capabilities:
        ort = _ort()
        gpu = any(p in ort.get_available_providers() for p in GPU_PROVIDERS)
        return Capabilities(
            formats=("onnx",), dtypes=("float32", "float16", "int8", "uint8"), accelerator="cuda" if gpu else "cpu"
        )

    @classmethod
    def describe(cls, path: Path) -> ModelDescription:
        session = _session(Path(path), _ort())

        def spec(node: Any) -> TensorSpec:
            shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
            return TensorSpec(name=node.name, shape=shape, dtype=spec_dtype(_dtype(node.type)))

        return ModelDescription(tuple(map(spec, session.get_inputs())), tuple(map(spec, session.get_outputs())), {})

    def providers(self, available: list[str]) -> list[Any]:
        """The provider list for InferenceSession: wanted and present, GPU options filled in, CPU last."""
        cfg = self.config
        wanted = list(cfg.providers) if cfg.providers is not None else [*GPU_PROVIDERS, CPU]
        if not cfg.use_gpu:
            wanted = [p for p in wanted if p not in GPU_PROVIDERS]
        chosen: list[Any] = []
        for name in wanted:
            if name not in available or name == CPU:
                continue
            if name == TENSORRT:
                options: dict[str, Any] = {"device_id": cfg.device_id, "trt_fp16_enable": cfg.trt_fp16}
                if cfg.trt_cache_dir:
                    options.update(trt_engine_cache_enable=True, trt_engine_cache_path=cfg.trt_cache_dir)
                chosen.append((name, options))
            elif name == CUDA:
                chosen.append((name, {"device_id": cfg.device_id}))
            else:
                chosen.append(name)
        chosen.append(CPU)
        return chosen

    def load(self, package: ModelPackage, artifact: Artifact) -> None:
        ort = _ort()
        path = package.path_of(artifact)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: the daemon's log is not ORT's
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.config.graph_optimization]
        session = _session(path, ort, options, self.providers(ort.get_available_providers()))
        manifest = package.manifest
        inputs = session.get_inputs()
        if len(inputs) != len(manifest.inputs) or len(inputs) != 1:
            raise BackendError(f"{path.name}: the model has {len(inputs)} inputs, the manifest lists {len(manifest.inputs)}"
                               " (one image input is supported)")
        inp, spec = inputs[0], manifest.inputs[0]
        dtype = _dtype(inp.type)
        own_q = artifact.quantization.get(spec.name) or artifact.quantization.get(inp.name)
        try:
            check_input(spec, tuple(inp.shape), dtype, own_q)
            outputs = session.get_outputs()
            order = order_outputs(manifest.outputs, [o.name for o in outputs], [tuple(o.shape) for o in outputs])
        except BackendError as exc:
            raise BackendError(f"{path.name}: {exc}") from None
        self._output_names = [outputs[i].name for i in order]
        self._output_q = [
            quantizer_for(n, np.dtype(_dtype(outputs[i].type)), None, artifact) for n, i in zip(self._output_names, order)
        ]
        self._input_q = quantizer_for(spec.name, np.dtype(dtype), own_q, artifact) if spec.dtype.startswith("float") else None
        self._input_name = inp.name
        self._input_shape = tuple(inp.shape)
        self._input_dtype = np.dtype(dtype)
        self._session = session

    @property
    def active_providers(self) -> list[str]:
        return list(self._session.get_providers()) if self._session is not None else []

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self._session is None:
            raise BackendError("onnxruntime: no model loaded")
        if self._input_q is not None:
            x = self._input_q.quantize(tensor)
        elif tensor.dtype != self._input_dtype:
            x = tensor.astype(self._input_dtype)
        else:
            x = tensor
        try:
            raw = self._session.run(self._output_names, {self._input_name: x})
        except Exception as exc:  # noqa: BLE001 - ORT's errors share no base class but Exception
            raise BackendError(f"onnxruntime: run failed: {exc}") from None
        return [q.dequantize(r) if q is not None else np.asarray(r).astype(np.float32, copy=False)
                for r, q in zip(raw, self._output_q)]

    def close(self) -> None:
        self._session = None


BACKEND = OnnxRuntimeBackend

"""LiteRT (TensorFlow Lite) back-end: ``.tflite`` models on the CPU, XNNPACK by default.

The interpreter comes from ``ai_edge_litert`` (the LiteRT wheel), else from
``tflite_runtime`` (older Raspberry Pi images); neither is imported until a
model is probed or loaded. Quantised models (int8/uint8 input or outputs)
take the same float tensor as the float model: the input is quantised with
the input tensor's (scale, zero_point) and each output dequantised with its
own, so :meth:`infer` always returns float32.
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

KEY = "litert"


class LiteRTConfig(BaseModel):
    """Settings of the LiteRT back-end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["litert"] = Field(KEY, description="back-end key")
    num_threads: int = Field(2, ge=1, le=64, description="interpreter threads (a Pi 4 has 4 cores; leave some)")
    use_xnnpack: bool = Field(True, description="XNNPACK delegate (LiteRT's default CPU delegate); off = reference kernels")


def _interpreter_module() -> Any:
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter  # type: ignore[no-redef]
        except ImportError:
            raise BackendUnavailable(f"{KEY}: ai_edge_litert and tflite_runtime not installed") from None
    return interpreter


def _open(path: Path, num_threads: int | None = None, use_xnnpack: bool = True) -> Any:
    module = _interpreter_module()
    kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": num_threads}
    if not use_xnnpack:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interp = module.Interpreter(**kwargs)
        interp.allocate_tensors()
    except TypeError as exc:  # an old tflite_runtime without the op-resolver option
        raise BackendError(f"{path.name}: this LiteRT cannot switch XNNPACK off ({exc})") from None
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"{path.name}: not a loadable TFLite model: {exc}") from None
    return interp


def _signature_names(interp: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Tensor index -> signature name of the inputs and outputs, when the model has one signature."""
    try:
        if len(interp.get_signature_list()) != 1:
            return {}, {}
        runner = interp.get_signature_runner()
        names = (
            {d["index"]: n for n, d in runner.get_input_details().items()},
            {d["index"]: n for n, d in runner.get_output_details().items()},
        )
        del runner  # it holds a reference to the interpreter's buffers, which blocks invoke()
        return names
    except (ValueError, RuntimeError, AttributeError):
        return {}, {}


def _qparams(detail: dict) -> tuple[float, int] | None:
    scale, zp = detail.get("quantization", (0.0, 0))
    return (float(scale), int(zp)) if scale else None


class LiteRTBackend(InferenceBackend):
    key: ClassVar[str] = KEY
    config_model: ClassVar[type[BaseModel]] = LiteRTConfig

    def __init__(self, config: LiteRTConfig | None = None) -> None:
        self.config = config or LiteRTConfig()
        self._interp: Any = None
        self._input_index = 0
        self._input_shape: tuple[int, ...] = ()
        self._input_dtype = np.dtype(np.float32)
        self._input_q: Quantizer | None = None
        self._outputs: list[tuple[int, Quantizer | None]] = []

    @classmethod
    def capabilities(cls) -> Capabilities:
        _interpreter_module()
        return Capabilities(formats=("tflite",), dtypes=("float32", "int8", "uint8", "float16"), accelerator="xnnpack")

    @classmethod
    def describe(cls, path: Path) -> ModelDescription:
        interp = _open(Path(path))
        in_names, out_names = _signature_names(interp)

        def spec(d: dict, names: dict[int, str]) -> TensorSpec:
            sig = d.get("shape_signature")
            shape = tuple(int(v) for v in (sig if sig is not None and len(sig) else d["shape"]))
            return TensorSpec(name=names.get(d["index"], d["name"]), shape=shape, dtype=spec_dtype(d["dtype"]))

        ins, outs = interp.get_input_details(), interp.get_output_details()
        quant = {}
        for d, names in [(d, in_names) for d in ins] + [(d, out_names) for d in outs]:
            if (q := _qparams(d)) is not None:
                quant[names.get(d["index"], d["name"])] = q
        return ModelDescription(tuple(spec(d, in_names) for d in ins), tuple(spec(d, out_names) for d in outs), quant)

    def load(self, package: ModelPackage, artifact: Artifact) -> None:
        path = package.path_of(artifact)
        interp = _open(path, self.config.num_threads, self.config.use_xnnpack)
        manifest = package.manifest
        _, out_names = _signature_names(interp)
        inputs = interp.get_input_details()
        if len(inputs) != len(manifest.inputs) or len(inputs) != 1:
            raise BackendError(f"{path.name}: the model has {len(inputs)} inputs, the manifest lists {len(manifest.inputs)}"
                               " (one image input is supported)")
        inp, spec = inputs[0], manifest.inputs[0]
        signature = inp.get("shape_signature")
        if signature is not None and len(signature) and any(int(v) < 0 for v in signature) and min(spec.shape) > 0:
            if len(signature) != len(spec.shape) or any(0 <= s != m for s, m in zip(signature, spec.shape)):
                raise BackendError(f"{path.name}: model input {tuple(signature)} does not match the manifest's {spec.shape}")
            interp.resize_tensor_input(inp["index"], list(spec.shape), strict=True)
            interp.allocate_tensors()
            inp = interp.get_input_details()[0]
        model_dtype = np.dtype(inp["dtype"])
        own_q = _qparams(inp)
        try:
            check_input(spec, tuple(int(v) for v in inp["shape"]), model_dtype.name, own_q or artifact.quantization.get(spec.name))
        except BackendError as exc:
            raise BackendError(f"{path.name}: {exc}") from None
        outputs = interp.get_output_details()
        try:
            order = order_outputs(
                manifest.outputs,
                [out_names.get(d["index"], d["name"]) for d in outputs],
                [tuple(int(v) for v in d["shape"]) for d in outputs],
            )
        except BackendError as exc:
            raise BackendError(f"{path.name}: {exc}") from None
        self._outputs = []
        for i in order:
            d = outputs[i]
            name = out_names.get(d["index"], d["name"])
            self._outputs.append((d["index"], quantizer_for(name, d["dtype"], _qparams(d), artifact)))
        self._input_q = None
        if model_dtype.kind in "iu" and spec.dtype in ("float32", "float16"):
            self._input_q = quantizer_for(spec.name, model_dtype, own_q, artifact)
        self._input_index = inp["index"]
        self._input_shape = tuple(int(v) for v in inp["shape"])
        self._input_dtype = model_dtype
        self._interp = interp

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        interp = self._interp
        if interp is None:
            raise BackendError("litert: no model loaded")
        if tensor.shape != self._input_shape:
            raise BackendError(f"litert: input shape {tensor.shape}, the model takes {self._input_shape}")
        if self._input_q is not None:
            x = self._input_q.quantize(tensor)
        elif tensor.dtype != self._input_dtype:
            x = tensor.astype(self._input_dtype)
        else:
            x = tensor
        try:
            interp.set_tensor(self._input_index, x)
            interp.invoke()
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"litert: invoke failed: {exc}") from None
        out = []
        for index, q in self._outputs:
            raw = interp.get_tensor(index)  # a copy
            out.append(q.dequantize(raw) if q is not None else raw.astype(np.float32, copy=False))
        return out

    @property
    def input_quantization(self) -> Quantizer | None:
        """How the float input is quantised, when the model's input is int8/uint8."""
        return self._input_q

    def close(self) -> None:
        self._interp = None


BACKEND = LiteRTBackend

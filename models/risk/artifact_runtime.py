"""A risk artifact opened in the runtime the edge uses for its format, as a plain rows -> scores function.

ONNX runs in onnxruntime; TFLite in LiteRT (``ai_edge_litert``), or
``tflite_runtime`` on older Raspberry Pi images — the same fallback as the
edge's LiteRT back-end. Tensor names are the model's own (the TFLite
signature's names where it has one), so they can be checked against the
manifest. Cost, compatibility and the packaging's holdout metrics all score
through this one module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.package import TensorSpec

Format = Literal["onnx", "tflite"]


class ArtifactLoadError(RuntimeError):
    """The artifact does not load in its runtime, or the runtime is not installed."""


class ScoringError(RuntimeError):
    """The runtime refused the rows (wrong shape or type): one type for both runtimes' own errors."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What the loaded model says its one input and output are."""

    input: TensorSpec
    output: TensorSpec


class Scorer:
    """One loaded model: ``scorer(rows)`` -> float32 scores, one per row. Not thread-safe for TFLite."""

    def __init__(self, fmt: Format, session: Any, signature: Signature) -> None:
        self.format, self._session, self.signature = fmt, session, signature
        self._rows = 1
        if fmt == "tflite":
            self._in_index = session.get_input_details()[0]["index"]
            self._out_index = session.get_output_details()[0]["index"]

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, np.float32)
        try:
            if self.format == "onnx":
                return self._session.run([self.signature.output.name], {self.signature.input.name: rows})[0]
            return self._invoke_tflite(rows)
        except Exception as exc:  # onnxruntime's errors derive from Exception only; LiteRT's are Value/RuntimeError
            raise ScoringError(f"{self.format} runtime refused rows of shape {list(rows.shape)}: {exc}") from None

    def _invoke_tflite(self, rows: np.ndarray) -> np.ndarray:
        interp = self._session
        if len(rows) != self._rows:  # resize only when the batch size changes: single-row calls stay cheap
            interp.resize_tensor_input(self._in_index, list(rows.shape))
            interp.allocate_tensors()
            self._rows = len(rows)
        interp.set_tensor(self._in_index, rows)
        interp.invoke()
        return interp.get_tensor(self._out_index).copy()


def open_artifact(path: Path, fmt: Format, *, threads: int = 1) -> Scorer:
    """Load ``path`` in its format's runtime with ``threads`` intra-op threads (the edge scores one row at a time)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactLoadError(f"{path}: no such artifact")
    if fmt == "onnx":
        return _open_onnx(path, threads)
    if fmt == "tflite":
        return _open_tflite(path, threads)
    raise ArtifactLoadError(f"{path}: unknown artifact format {fmt!r} (onnx or tflite)")


def _spec(name: str, shape: Any, dtype: Any) -> TensorSpec:
    dims = tuple(-1 if d is None or isinstance(d, str) or int(d) < 0 else int(d) for d in shape)
    try:
        return TensorSpec(name=name, shape=dims, dtype=np.dtype(dtype).name)
    except ValueError as exc:
        raise ArtifactLoadError(f"tensor {name!r}: unsupported dtype {dtype!r}") from exc


_ONNX_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def _open_onnx(path: Path, threads: int) -> Scorer:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArtifactLoadError("onnxruntime is not installed") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types, all meaning "does not load"
        raise ArtifactLoadError(f"{path.name}: not a loadable ONNX model: {exc}") from None
    ins, outs = session.get_inputs(), session.get_outputs()
    if len(ins) != 1 or len(outs) != 1:
        raise ArtifactLoadError(f"{path.name}: {len(ins)} inputs and {len(outs)} outputs; a risk model has one each")
    sig = Signature(*(_spec(t.name, t.shape, _ONNX_TYPES.get(t.type, t.type)) for t in (ins[0], outs[0])))
    return Scorer("onnx", session, sig)


def interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError:
            raise ArtifactLoadError("neither ai_edge_litert nor tflite_runtime is installed") from None
    return Interpreter


def _open_tflite(path: Path, threads: int) -> Scorer:
    try:
        interp = interpreter_class()(model_path=str(path), num_threads=threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ArtifactLoadError(f"{path.name}: not a loadable TFLite model: {exc}") from None
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
        raise ArtifactLoadError(f"{path.name}: {len(ins)} inputs and {len(outs)} outputs; a risk model has one each")
    in_names, out_names = _signature_names(interp)

    def spec(d: dict, names: dict[int, str]) -> TensorSpec:
        sig = d.get("shape_signature")
        return _spec(names.get(d["index"], d["name"]), sig if sig is not None and len(sig) else d["shape"], d["dtype"])

    return Scorer("tflite", interp, Signature(spec(ins[0], in_names), spec(outs[0], out_names)))


def _signature_names(interp: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Tensor index -> signature name of inputs and outputs when the model has exactly one signature."""
    try:
        if len(interp.get_signature_list()) != 1:
            return {}, {}
        runner = interp.get_signature_runner()
        names = ({d["index"]: n for n, d in runner.get_input_details().items()},
                 {d["index"]: n for n, d in runner.get_output_details().items()})
        del runner  # it holds the interpreter's buffers, which would block invoke()
        return names
    except (ValueError, RuntimeError, AttributeError):
        return {}, {}

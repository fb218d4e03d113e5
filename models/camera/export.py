"""One trained model, three artifacts: TFLite fp32, TFLite full-integer int8, ONNX.

All three come from the same frozen serving function (decoding included), so
they differ only by what each converter and quantiser does, and the
evaluation of each tells how much that costs.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from .packaging import INPUT_NAME, OUTPUT_NAME, Exported

ONNX_OPSET = 13


def serving_function(model: tf.keras.Model) -> tf.types.experimental.ConcreteFunction:
    """The serving graph with a fixed ``[1, S, S, 3]`` float input named ``images`` and variables frozen.

    Freezing turns weights into constants: the TFLite calibrator and tf2onnx
    both need a graph without resource variables.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    size = model.input_shape[1]

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name=INPUT_NAME)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {OUTPUT_NAME: model(images, training=False)}

    return convert_variables_to_constants_v2(serve.get_concrete_function())


def export_tflite_fp32(frozen: tf.types.experimental.ConcreteFunction, path: Path) -> Exported:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    path.write_bytes(converter.convert())
    return Exported(path, "tflite", "fp32")


def export_tflite_int8(
    frozen: tf.types.experimental.ConcreteFunction, path: Path, representative: np.ndarray
) -> Exported:
    """Full-integer int8 (weights, activations, input and output), calibrated on ``representative`` (uint8 RGB)."""

    def samples() -> Iterator[list[np.ndarray]]:
        for image in representative:
            yield [image[None].astype(np.float32) / 255.0]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():  # "statistics for quantized inputs": the calibrator provides them
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs", category=UserWarning)
        path.write_bytes(converter.convert())
    return Exported(path, "tflite", "int8", _tflite_quantization(path))


def _tflite_quantization(path: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero_point) of the input and output, keyed by the manifest's tensor names."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    return {
        INPUT_NAME: (float(inp["quantization"][0]), int(inp["quantization"][1])),
        OUTPUT_NAME: (float(out["quantization"][0]), int(out["quantization"][1])),
    }


def export_onnx(frozen: tf.types.experimental.ConcreteFunction, path: Path) -> Exported:
    """ONNX from the frozen graph, input ``images`` and output ``detections`` named as in the manifest."""
    import tf2onnx

    graph_def = frozen.graph.as_graph_def()
    inputs = [t.name for t in frozen.inputs]
    outputs = [t.name for t in frozen.outputs]
    model_proto, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=inputs, output_names=outputs, opset=ONNX_OPSET
    )
    for value, wanted in ((model_proto.graph.input[0], INPUT_NAME), (model_proto.graph.output[0], OUTPUT_NAME)):
        _rename(model_proto.graph, value.name, wanted)
    path.write_bytes(model_proto.SerializeToString())
    return Exported(path, "onnx", "fp32")


def _rename(graph: object, old: str, new: str) -> None:
    """Rename a graph input or output everywhere it is referenced."""
    if old == new:
        return
    for node in graph.node:  # type: ignore[attr-defined]
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.input) + list(graph.output):  # type: ignore[attr-defined]
        if value.name == old:
            value.name = new

"""The trainable detector back from a shipped package, whose only weights are its exported artifacts.

A package carries no Keras weights, so fine-tuning starts from its ONNX
file. tf2onnx folded each BatchNormalization into the convolution before it
(``<conv>/convolution/merged_input`` is the folded kernel, OIHW, and
``<bn>/batchnorm/sub`` the folded bias); after a depthwise convolution it
kept the BatchNorm as a ``Mul`` by ``<bn>/batchnorm/mul`` and an ``Add`` of
the folded shift. Each is written back into :func:`model.build_detector`'s
graph: the kernel as is, the BatchNorm as an affine identity (gamma = the
scale or 1, beta = the bias, moving mean 0, moving variance ``1 - epsilon``
so that ``sqrt(var + eps)`` is 1). The recovered model computes the shipped
function; its statistics are those of the shipped model, already folded.

Fine-tuning on a few hundred frames then keeps every BatchNormalization
frozen (inference mode, :func:`freeze_batchnorm`): batch statistics of
16 hard examples would be noise, and moving averages re-estimated from them
would drift away from what the kernels were trained with.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from models.package import load_package

from .model import build_detector


class RecoveryError(ValueError):
    """The package's ONNX graph does not map onto the detector's layers (another architecture or width)."""


@dataclass(frozen=True, slots=True)
class _Weights:
    """What the ONNX graph says about one Keras convolution and the BatchNorm (if any) after it."""

    kernel: np.ndarray  # ONNX layout: OIHW, depthwise ``[C * M, 1, kh, kw]``
    conv_bias: np.ndarray | None = None  # a convolution with its own bias (the heads' outputs)
    bn: str | None = None
    bn_scale: np.ndarray | None = None
    bn_bias: np.ndarray | None = None


def trainable_from_package(package_dir: Path | str) -> keras.Model:
    """:func:`build_detector` at the package's input size, with the weights of its ONNX artifact.

    The width is the one whose layer shapes the ONNX kernels fit (the manifest
    does not name it). Raises :class:`RecoveryError` when a layer has no
    weights in the graph or a weight has no layer.
    """
    package = load_package(package_dir)
    artifact = package.manifest.artifact("onnx")
    if artifact is None:
        raise RecoveryError(f"{package_dir}: the package has no ONNX artifact to recover weights from")
    size = package.manifest.inputs[0].shape[1]
    found = _read_onnx(package.path_of(artifact))
    stem_filters = next((w.kernel.shape[0] for name, w in found.items() if name.startswith("stem")), None)
    model = build_detector(size, width=_width_for(stem_filters))
    _assign(model, found)
    return model


def freeze_batchnorm(model: keras.Model) -> int:
    """Every BatchNormalization in inference mode with its parameters fixed; returns how many."""
    frozen = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # Keras 3: a non-trainable BN normalises with its moving statistics
            frozen += 1
    return frozen


def _width_for(stem_filters: int | None) -> float:
    """The ``width`` multiplier whose stem has ``stem_filters`` channels (``ch(16)`` in build_detector)."""
    if stem_filters is None:
        raise RecoveryError("the ONNX graph has no stem convolution")
    for width in (1.0, 0.25, 0.5, 0.75, 1.25, 1.5, 2.0):
        if max(8, round(16 * width / 8) * 8) == stem_filters:
            return width
    raise RecoveryError(f"no detector width gives a {stem_filters}-channel stem")


def _read_onnx(path: Path) -> dict[str, _Weights]:
    """Per Keras convolution layer name (as tf2onnx wrote it into the names), its weights."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    out: dict[str, _Weights] = {}
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in values:
            continue
        kernel = values[node.input[1]]
        bias_name = node.input[2] if len(node.input) > 2 else None
        if bias_name is not None:  # a plain convolution, its BN folded in, or a head output with its own bias
            layer = _scope(node.input[1], "convolution")
            bn = _scope(bias_name, "batchnorm")
            weights = _Weights(kernel, bn=bn, bn_bias=values[bias_name]) if bn else _Weights(kernel, values[bias_name])
        else:  # depthwise: Conv -> Mul(scale) -> Add(shift), the BN kept apart
            layer = _scope(node.output[0], "depthwise")
            weights = _depthwise(kernel, node.output[0], consumers, values)
        if layer is None:
            raise RecoveryError(f"{path}: cannot tell which layer convolution {node.name} belongs to")
        out[layer] = weights
    return out


def _depthwise(kernel: np.ndarray, output: str, consumers: dict[str, list], values: dict[str, np.ndarray]) -> _Weights:
    mul = _only(consumers.get(output, []), "Mul", output)
    scale_name = next(n for n in mul.input if n != output)
    add = _only(consumers.get(mul.output[0], []), "Add", mul.output[0])
    shift_name = next(n for n in add.input if n != mul.output[0])
    if scale_name not in values or shift_name not in values:
        raise RecoveryError(f"the BatchNorm after {output} is not constant")
    return _Weights(kernel, bn=_scope(scale_name, "batchnorm"), bn_scale=values[scale_name].reshape(-1),
                    bn_bias=values[shift_name].reshape(-1))


def _only(nodes: Iterable, op: str, after: str) -> object:
    found = list(nodes)
    if len(found) != 1 or found[0].op_type != op:
        raise RecoveryError(f"expected one {op} after {after}, found {[n.op_type for n in found]}")
    return found[0]


def _scope(name: str, op: str) -> str | None:
    """``a/b/<layer>_1/<op>/...`` -> ``<layer>_1`` (the graph's name scope; the suffix is matched later)."""
    parts = re.sub(r":\d+$", "", name).split("/")
    return parts[parts.index(op) - 1] if op in parts[1:] else None


def _layer_for(scope: str, names: set[str]) -> str:
    """The model's layer a graph scope names: itself, or itself plus tf's ``_<n>`` uniquifier."""
    if scope in names:
        return scope
    base = re.sub(r"_\d+$", "", scope)
    if base in names:
        return base
    raise RecoveryError(f"the ONNX graph has weights for {scope!r}, which the detector has no layer for")


def _assign(model: keras.Model, found: dict[str, _Weights]) -> None:
    layers = {layer.name: layer for layer in model.layers}
    names = set(layers)
    done: set[str] = set()
    for scope, w in found.items():
        conv = layers[_layer_for(scope, names)]
        kernel = _keras_kernel(conv, w.kernel)
        conv.set_weights([kernel] if w.conv_bias is None else [kernel, w.conv_bias])
        done.add(conv.name)
        if w.bn is None:
            continue
        bn = layers[_layer_for(w.bn, names)]
        channels = kernel.shape[-1] * (kernel.shape[-2] if _is_depthwise(conv) else 1)
        bias = np.asarray(w.bn_bias, np.float32).reshape(channels)
        scale = np.ones(channels, np.float32) if w.bn_scale is None else w.bn_scale.astype(np.float32)
        bn.set_weights([scale, bias, np.zeros(channels, np.float32),
                        np.full(channels, 1.0 - bn.epsilon, np.float32)])
        done.add(bn.name)
    missing = sorted(name for name, layer in layers.items() if layer.weights and name not in done)
    if missing:
        raise RecoveryError(f"the ONNX graph has no weights for {', '.join(missing)}")


def _is_depthwise(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.DepthwiseConv2D)


def _keras_kernel(layer: keras.layers.Layer, onnx_kernel: np.ndarray) -> np.ndarray:
    """OIHW to Keras' HWIO; depthwise ``[C * M, 1, kh, kw]`` to ``[kh, kw, C, M]``."""
    wanted = tuple(layer.weights[0].shape)
    if _is_depthwise(layer):
        kh, kw, channels, mult = wanted
        kernel = onnx_kernel.reshape(channels, mult, kh, kw).transpose(2, 3, 0, 1)
    else:
        kernel = onnx_kernel.transpose(2, 3, 1, 0)
    if kernel.shape != wanted:
        raise RecoveryError(f"{layer.name}: the ONNX kernel is {onnx_kernel.shape}, the layer wants {wanted}")
    return kernel.astype(np.float32)

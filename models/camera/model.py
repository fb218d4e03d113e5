"""The detector: a small depthwise-separable backbone, a two-level top-down neck, anchor-free heads.

Two graphs share one set of weights: :func:`build_detector` gives the raw
head outputs the loss trains on, and :func:`build_exportable` appends the
decoding (grid offsets, strides, sigmoids) so an exported artifact outputs
final boxes: ``[1, N, 4 + C]`` with normalised ``cx, cy, w, h`` then ``C``
class scores — the layout the runtime's ``yolo`` decoder reads with
``has_objectness: false``. The head is decoupled (separate box and
attribute branches, as in YOLOv8) and predicts attributes, not classes (see
:func:`class_scores`). Every op is one LiteRT runs in full int8.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .scene import LABELS
from .targets import INPUT_SIZE, REACH, STRIDES, Grid, make_grid

ATTRIBUTES: tuple[str, ...] = ("present", "down", "helmet", "vest")
"""What the head predicts per row besides the box; :func:`class_scores` turns them into :data:`LABELS`."""

BN_MOMENTUM = 0.97
"""Faster than Keras' 0.99: a few thousand steps of training must leave inference statistics that fit the weights."""


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int = 1, strides: int = 1, name: str = ""
) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def _separable(x: keras.KerasTensor, filters: int, strides: int = 1, name: str = "") -> keras.KerasTensor:
    """MobileNet block: 3x3 depthwise then 1x1 pointwise, each with BN and ReLU6; residual when shapes match."""
    y = layers.DepthwiseConv2D(3, strides, padding="same", use_bias=False, name=f"{name}_dw")(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(y, filters, name=f"{name}_pw")
    if strides == 1 and x.shape[-1] == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def build_detector(input_size: int = INPUT_SIZE, width: float = 1.0) -> keras.Model:
    """The trainable graph: input RGB in 0..1, output raw ``[B, N, 4 + A]`` (side logits, attribute logits)."""

    def ch(n: int) -> int:
        return max(8, round(n * width / 8) * 8)

    inputs = keras.Input((input_size, input_size, 3), name="images")
    x = _conv_bn(inputs, ch(16), 3, 2, name="stem")  # /2
    x = _separable(x, ch(24), 2, name="b1")  # /4
    x = _separable(x, ch(24), name="b1r")
    x = _separable(x, ch(48), 2, name="b2")  # /8
    x = _separable(x, ch(48), name="b2r1")
    p3 = _separable(x, ch(48), name="b2r2")
    x = _separable(p3, ch(96), 2, name="b3")  # /16
    x = _separable(x, ch(96), name="b3r1")
    p4 = _separable(x, ch(96), name="b3r2")
    x = _separable(p4, ch(128), 2, name="b4")  # /32: context for large and fallen figures
    p5 = _separable(x, ch(128), name="b4r")

    n4 = layers.Add(name="n4_merge")([p4, layers.UpSampling2D(2, name="n4_up")(_conv_bn(p5, ch(96), name="n4_lat"))])
    n4 = _separable(n4, ch(96), name="n4")
    n3 = layers.Add(name="n3_merge")([p3, layers.UpSampling2D(2, name="n3_up")(_conv_bn(n4, ch(48), name="n3_lat"))])
    n3 = _separable(n3, ch(48), name="n3")

    outs = []
    prior = keras.initializers.Constant([-np.log(99.0)] + [0.0] * (len(ATTRIBUTES) - 1))  # presence starts at 1 %
    for level, feat in zip(STRIDES, (n3, n4), strict=True):
        box = _separable(feat, feat.shape[-1], name=f"box{level}")
        box = layers.Conv2D(4, 1, name=f"box{level}_out")(box)
        cls = _separable(feat, feat.shape[-1], name=f"cls{level}")
        cls = layers.Conv2D(len(ATTRIBUTES), 1, name=f"cls{level}_out", bias_initializer=prior)(cls)
        y = layers.Concatenate(name=f"head{level}")([box, cls])
        outs.append(layers.Reshape((-1, 4 + len(ATTRIBUTES)), name=f"head{level}_flat")(y))
    raw = layers.Concatenate(axis=1, name="raw")(outs)
    return keras.Model(inputs, raw, name="siteguard_detector")


def class_scores(attribute_logits: keras.KerasTensor) -> keras.KerasTensor:
    """Attribute logits ``[B, N, A]`` to the scores of :data:`LABELS`, which split the presence score.

    The head learns four independent yes/no questions (a person here? lying
    down? hard hat? vest?) with clean targets; the labels are their
    combinations, so a vest learnt on compliant workers also counts for
    everyone else.
    """
    a = ops.sigmoid(attribute_logits)
    present, down, helmet, vest = (a[..., i : i + 1] for i in range(len(ATTRIBUTES)))
    upright = present * (1.0 - down)
    by_label = {
        "person": upright * helmet * vest,
        "no_helmet": upright * (1.0 - helmet),
        "no_vest": upright * helmet * (1.0 - vest),
        "person_down": present * down,
    }
    return ops.concatenate([by_label[label] for label in LABELS], axis=-1)


def decode_boxes(raw_sides: keras.KerasTensor, grid: Grid) -> keras.KerasTensor:
    """Side logits ``[B, N, 4]`` (left, top, right, bottom) to normalised ``cx, cy, w, h``."""
    sides = ops.sigmoid(raw_sides) * (REACH * grid.strides[:, None])
    left_top, right_bottom = sides[..., :2], sides[..., 2:]
    centre = grid.centres + (right_bottom - left_top) * 0.5
    return ops.concatenate([centre, left_top + right_bottom], axis=-1)


@keras.saving.register_keras_serializable(package="siteguard")
class Decode(layers.Layer):
    """Bakes the anchor-free decoding into the graph so exported models output final boxes and scores."""

    def __init__(self, input_size: int = INPUT_SIZE, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.input_size = input_size
        self.grid = make_grid(input_size)

    def call(self, raw: keras.KerasTensor) -> keras.KerasTensor:
        return ops.concatenate([decode_boxes(raw[..., :4], self.grid), class_scores(raw[..., 4:])], axis=-1)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "input_size": self.input_size}


def build_exportable(detector: keras.Model) -> keras.Model:
    """The serving graph: ``detector`` plus :class:`Decode`, sharing its weights; output ``detections``."""
    size = detector.input_shape[1]
    images = keras.Input((size, size, 3), batch_size=1, name="images")
    return keras.Model(images, Decode(size, name="detections")(detector(images)), name="siteguard_detector_serving")

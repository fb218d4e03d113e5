"""The training loss: GIoU + L1 for boxes, presence and attribute cross-entropy for what the box holds.

Presence is learnt varifocal-style: a positive row's target is the IoU its
predicted box currently reaches, so the score ranks detections by how well
they are localised (what mAP and the runtime's NMS reward), and background
rows are down-weighted by their own score squared so the many easy ones do
not swamp the few positives. Attributes (down, helmet, vest) are plain
yes/no cross-entropy on the positive rows whose label says the answer: a
``no_helmet`` label says nothing about the vest, a fall nothing about either.
"""
from __future__ import annotations

import tensorflow as tf

from .model import decode_boxes
from .scene import LABELS
from .targets import REACH, Grid

BOX_WEIGHT = 2.0
ATTRIBUTE_WEIGHT = 4.0
"""Helmet and vest are small details that localisation alone never teaches the shared features: weigh them up."""
SIDE_WEIGHT = 0.25
"""L1 on the four side distances (in strides) beside GIoU: a steady gradient for small boxes where IoU is steep."""


def detection_loss(
    raw: tf.Tensor, cls: tf.Tensor, target: tf.Tensor, grid: Grid
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(total, classification, box) loss for a batch of raw head outputs ``[B, N, 4 + A]``."""
    positive = tf.cast(cls >= 0, tf.float32)
    num_pos = tf.maximum(tf.reduce_sum(positive), 1.0)
    pred = _xyxy(decode_boxes(raw[..., :4], grid))
    iou, giou = _iou_giou(pred, target)
    box_loss = tf.reduce_sum((1.0 - giou + SIDE_WEIGHT * _side_error(raw[..., :4], target, grid)) * positive) / num_pos
    logits = raw[..., 4:]
    quality = tf.stop_gradient(tf.clip_by_value(iou, 0.0, 1.0)) * positive
    weight = positive + (1.0 - positive) * tf.square(tf.sigmoid(logits[..., 0]))
    presence = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(quality, logits[..., 0]) * weight)
    attributes = 0.0
    for column, (answer, known) in enumerate(_attribute_targets(cls), start=1):
        attributes += tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(answer, logits[..., column]) * known)
    cls_loss = (presence + ATTRIBUTE_WEIGHT * attributes) / num_pos
    return cls_loss + BOX_WEIGHT * box_loss, cls_loss, box_loss


def _attribute_targets(cls: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """(answer, where the label knows it) for down, helmet and vest: ``model.ATTRIBUTES`` after presence."""
    def is_(*labels: str) -> tf.Tensor:
        return tf.cast(tf.reduce_any(tf.stack([cls == LABELS.index(n) for n in labels]), axis=0), tf.float32)

    positive = tf.cast(cls >= 0, tf.float32)
    upright = is_("person", "no_helmet", "no_vest")
    return [
        (is_("person_down"), positive),
        (is_("person", "no_vest"), upright),
        (is_("person"), is_("person", "no_vest")),
    ]


def _side_error(raw_sides: tf.Tensor, target: tf.Tensor, grid: Grid) -> tf.Tensor:
    """Sum of |predicted - target| side distances, in strides of the row's level."""
    predicted = tf.sigmoid(raw_sides) * REACH
    centres = tf.concat([grid.centres, grid.centres], axis=-1)
    wanted = (target - centres) * tf.constant([-1.0, -1.0, 1.0, 1.0]) / grid.strides[:, None]
    return tf.reduce_sum(tf.abs(predicted - wanted), axis=-1)


def _xyxy(cxcywh: tf.Tensor) -> tf.Tensor:
    half = cxcywh[..., 2:] * 0.5
    return tf.concat([cxcywh[..., :2] - half, cxcywh[..., :2] + half], axis=-1)


def _iou_giou(a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    lt, rb = tf.maximum(a[..., :2], b[..., :2]), tf.minimum(a[..., 2:], b[..., 2:])
    inter = tf.reduce_prod(tf.maximum(rb - lt, 0.0), axis=-1)
    area_a = tf.reduce_prod(a[..., 2:] - a[..., :2], axis=-1)
    area_b = tf.reduce_prod(tf.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)
    union = area_a + area_b - inter + 1e-9
    hull = tf.reduce_prod(tf.maximum(a[..., 2:], b[..., 2:]) - tf.minimum(a[..., :2], b[..., :2]), axis=-1) + 1e-9
    iou = inter / union
    return iou, iou - (hull - union) / hull

"""The fitting loop: AdamW with warm-up and cosine decay, one compiled step, a report per epoch.

A plain loop rather than ``Model.fit``: the targets are per-row arrays the
loss reads with the grid, and the loop stays small enough to read at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .loss import detection_loss
from .targets import Grid, mirror

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(uint8 RGB inputs, per-row class targets, per-row box targets)."""


@dataclass(frozen=True, slots=True)
class FitConfig:
    epochs: int
    batch_size: int = 16
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    seed: int = 0
    compiled: bool = True  # False: eager steps, which skips seconds of graph tracing for a one-step smoke run


def fit(
    model: keras.Model,
    train: Arrays,
    val: Arrays,
    grid: Grid,
    config: FitConfig,
    report: Callable[[dict[str, float]], None],
) -> None:
    """Train ``model`` in place; ``report`` gets one dict per epoch (losses, val loss, seconds)."""
    count = len(train[0])
    batch = min(config.batch_size, count)
    steps_per_epoch = max(1, count // batch)
    total = steps_per_epoch * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total), warmup_target=config.learning_rate, warmup_steps=min(300, total // 8)
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)

    def step(images: tf.Tensor, classes: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            raw = model(tf.cast(images, tf.float32) / 255.0, training=True)
            losses = detection_loss(raw, classes, targets, grid)
        grads = tape.gradient(losses[0], model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return losses

    def evaluate(images: tf.Tensor, classes: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        raw = model(tf.cast(images, tf.float32) / 255.0, training=False)
        return detection_loss(raw, classes, targets, grid)[0]

    if config.compiled:
        step = tf.function(step, reduce_retracing=True, autograph=False)  # no Python control flow to convert
        evaluate = tf.function(evaluate, reduce_retracing=True, autograph=False)
    rng = np.random.default_rng(config.seed)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = rng.permutation(count)
        sums = np.zeros(3)
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * batch : (s + 1) * batch])
            images, classes, targets = train[0][idx], train[1][idx], train[2][idx]
            if rng.random() < 0.5:
                images, classes, targets = mirror(images, classes, targets, grid)
            sums += [float(v) for v in step(images, classes, targets)]
        val_losses = [
            float(evaluate(val[0][i : i + batch], val[1][i : i + batch], val[2][i : i + batch]))
            for i in range(0, len(val[0]), batch)
        ]
        loss, cls_loss, box_loss = sums / steps_per_epoch
        report({
            "epoch": epoch, "epochs": config.epochs, "loss": round(loss, 4), "cls_loss": round(cls_loss, 4),
            "box_loss": round(box_loss, 4),
            "val_loss": round(float(np.mean(val_losses)), 4) if val_losses else float("nan"),
            "seconds": round(time.perf_counter() - started, 1),
        })

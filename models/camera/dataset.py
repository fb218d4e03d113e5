"""The seeded dataset: rendered frames split into train / val / held-out test, and training tensors.

Each image has its own seed derived from (run seed, split, index), so splits
never share an image, any image can be re-rendered alone, and rendering can
be spread over processes without changing a pixel.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from .render import random_scene
from .runtime_path import letterbox
from .scene import LABELS, Box
from .targets import Grid, assign

FRAME_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (320, 240), (320, 180))
"""Rendered (width, height): mostly 4:3 like VGA site cameras, some 16:9."""
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True, slots=True)
class Split:
    """Rendered frames (BGR, as a camera delivers them) and their ground truth."""

    name: str
    frames: list[np.ndarray]
    boxes: list[list[Box]]

    def __len__(self) -> int:
        return len(self.frames)


def render_image(seed: int, split: str, index: int) -> tuple[np.ndarray, list[Box]]:
    """Image ``index`` of ``split``: the same pixels for the same arguments, on any machine."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    width, height = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    return random_scene(rng, width, height)


def _render_range(seed: int, split: str, start: int, stop: int) -> list[tuple[np.ndarray, list[Box]]]:
    return [render_image(seed, split, i) for i in range(start, stop)]


def render_split(seed: int, split: str, count: int, workers: int = 2) -> Split:
    """Render ``count`` images of ``split``, in ``workers`` processes when that pays off."""
    if workers <= 1 or count < 64:
        items = _render_range(seed, split, 0, count)
    else:
        bounds = np.linspace(0, count, workers * 4 + 1).astype(int)
        ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow threads
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            n = len(bounds) - 1
            parts = pool.map(_render_range, [seed] * n, [split] * n, bounds[:-1], bounds[1:])
            items = [item for part in parts for item in part]
    return Split(split, [img for img, _ in items], [boxes for _, boxes in items])


def training_arrays(split: Split, input_size: int, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letterboxed RGB inputs (uint8) with per-row class and box targets, as the runtime will feed the model."""
    count = len(split)
    images = np.empty((count, input_size, input_size, 3), np.uint8)
    classes = np.empty((count, grid.size), np.int16)
    targets = np.empty((count, grid.size, 4), np.float32)
    for i, (frame, boxes) in enumerate(zip(split.frames, split.boxes)):
        images[i], transform = letterbox(frame, input_size)
        norm = transform.to_input(np.array([b.as_tuple() for b in boxes], np.float32)) / input_size
        ids = np.array([LABELS.index(b.label) for b in boxes], np.int16)
        classes[i], targets[i] = assign(norm, ids, grid, input_size)
    return images, classes, targets

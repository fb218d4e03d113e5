"""The output grid and the fixed training targets: which rows learn which box.

Numpy only, so dataset workers build targets without loading TensorFlow.
Assignment is computed once per image, not per step: a box is learnt by the
head level whose reach suits its size, at the cells near its anchor point (on
the chest of an upright worker) that lie inside it; where boxes overlap the
smaller one wins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_SIZE = 192
STRIDES: tuple[int, ...] = (8, 16)
REACH = 7.0
"""A head cell predicts box sides up to ``REACH`` strides from its centre (bounded: quantisation-friendly)."""


@dataclass(frozen=True, slots=True)
class Grid:
    """Cell centres and strides of every output row, normalised to the input; rows ordered level by level."""

    centres: np.ndarray  # (N, 2) cx, cy
    strides: np.ndarray  # (N,) stride / input size

    @property
    def size(self) -> int:
        return len(self.strides)


def make_grid(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> Grid:
    centres, scales = [], []
    for stride in strides:
        cells = input_size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) + 0.5)
        centres[-1] *= stride / input_size
        scales.append(np.full(cells * cells, stride / input_size, np.float32))
    return Grid(np.concatenate(centres), np.concatenate(scales))


CENTRE_RADIUS = 2.5
"""Cells within this many strides of a box's anchor point (and inside the box) learn it."""
ANCHOR_HEIGHT = 0.35
"""In a box taller than wide the anchor point sits a third of the way down, on the chest of an upright worker:
the rows that learn a person see the vest and the hard hat close by, not just trousers. Wider boxes (a fall)
anchor at their centre."""
LEVEL_SPAN: dict[int, tuple[float, float]] = {8: (0.0, 80.0), 16: (48.0, 1e9)}
"""Longest box side in input pixels that each stride learns; the overlap gives mid sizes two chances."""


def assign(boxes: np.ndarray, classes: np.ndarray, grid: Grid, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row targets for one image.

    ``boxes`` are (M, 4) normalised x1, y1, x2, y2 in the input tensor;
    returns (class index per row, -1 for background; target box per row).
    """
    cls = np.full(grid.size, -1, np.int16)
    target = np.zeros((grid.size, 4), np.float32)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cx, cy = grid.centres[:, 0], grid.centres[:, 1]
    for i in np.argsort(-areas):  # large first, so smaller boxes overwrite them where they overlap
        x1, y1, x2, y2 = boxes[i]
        side = max(x2 - x1, y2 - y1) * input_size
        stride_px = grid.strides * input_size
        in_level = np.zeros(grid.size, bool)
        for stride, (lo, hi) in LEVEL_SPAN.items():
            if lo <= side <= hi:
                in_level |= stride_px == stride
        upright = (y2 - y1) > (x2 - x1)
        gx, gy = (x1 + x2) / 2, y1 + (ANCHOR_HEIGHT if upright else 0.5) * (y2 - y1)
        near = (np.abs(cx - gx) <= CENTRE_RADIUS * grid.strides) & (np.abs(cy - gy) <= CENTRE_RADIUS * grid.strides)
        inside = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2)
        reach = np.maximum.reduce([cx - x1, cy - y1, x2 - cx, y2 - cy]) <= 0.95 * REACH * grid.strides
        chosen = in_level & near & inside & reach
        if not chosen.any():  # a tiny or odd box: its nearest cell on its level still learns it
            dist = np.where(in_level, (cx - gx) ** 2 + (cy - gy) ** 2, np.inf)
            chosen = np.zeros(grid.size, bool)
            chosen[int(np.argmin(dist))] = True
        cls[chosen] = classes[i]
        target[chosen] = boxes[i]
    return cls, target


def mirror(images: np.ndarray, classes: np.ndarray, targets: np.ndarray, grid: Grid) -> tuple[np.ndarray, ...]:
    """A batch flipped left-right with its targets: each level's rows mirrored, boxes reflected.

    Cell centres are symmetric about the middle, so the mirrored assignment
    is exactly the one :func:`assign` would make for the mirrored image:
    twice the data for free.
    """
    classes, targets = classes.copy(), targets.copy()
    start = 0
    for stride in dict.fromkeys(grid.strides.tolist()):  # levels in row order
        cells = round(1.0 / stride)
        rows = slice(start, start + cells * cells)
        shape = (len(classes), cells, cells)
        classes[:, rows] = classes[:, rows].reshape(shape)[:, :, ::-1].reshape(len(classes), -1)
        targets[:, rows] = targets[:, rows].reshape(*shape, 4)[:, :, ::-1].reshape(len(classes), -1, 4)
        start += cells * cells
    reflected = targets.copy()
    reflected[..., 0], reflected[..., 2] = 1.0 - targets[..., 2], 1.0 - targets[..., 0]
    return images[:, :, ::-1], classes, np.where(classes[..., None] >= 0, reflected, 0.0).astype(np.float32)


"""Training targets: which rows learn which box, and the mirror augmentation that must keep them consistent."""
from __future__ import annotations

import numpy as np

from models.camera.targets import assign, make_grid, mirror

GRID = make_grid(192)


def _boxes() -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([[0.10, 0.20, 0.15, 0.38], [0.50, 0.30, 0.95, 0.95], [0.40, 0.70, 0.75, 0.85]], np.float32)
    return boxes, np.array([0, 1, 3], np.int16)


def test_every_box_gets_rows_inside_it_with_its_label() -> None:
    boxes, classes = _boxes()
    cls, target = assign(boxes, classes, GRID, 192)
    for box, label in zip(boxes, classes, strict=True):
        rows = np.flatnonzero((target == box).all(axis=1))
        assert len(rows) > 0 and (cls[rows] == label).all()
        cx, cy = GRID.centres[rows, 0], GRID.centres[rows, 1]
        assert ((cx > box[0]) & (cx < box[2]) & (cy > box[1]) & (cy < box[3])).all()
    assert (cls == -1).sum() > 0.8 * GRID.size  # most rows are background


def test_small_boxes_go_to_the_fine_level_and_large_ones_to_the_coarse() -> None:
    boxes, classes = _boxes()
    cls, _ = assign(boxes[:1], classes[:1], GRID, 192)
    assert set(np.unique(GRID.strides[cls >= 0] * 192)) == {8}
    cls, _ = assign(boxes[1:2], classes[1:2], GRID, 192)
    assert set(np.unique(GRID.strides[cls >= 0] * 192)) == {16}


def test_mirroring_the_batch_equals_assigning_the_mirrored_boxes() -> None:
    boxes, classes = _boxes()
    cls, target = assign(boxes, classes, GRID, 192)
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = 1 - boxes[:, 2], 1 - boxes[:, 0]
    want_cls, want_target = assign(flipped, classes, GRID, 192)
    images = np.arange(2 * 192 * 192 * 3, dtype=np.float32).reshape(2, 192, 192, 3)
    got_images, got_cls, got_target = mirror(images, np.stack([cls, cls]), np.stack([target, target]), GRID)
    np.testing.assert_array_equal(got_images[0], images[0, :, ::-1])
    np.testing.assert_array_equal(got_cls[1], want_cls)
    np.testing.assert_allclose(got_target[1], want_target, atol=1e-6)
    back = mirror(got_images, got_cls, got_target, GRID)
    np.testing.assert_array_equal(back[1], np.stack([cls, cls]))
    np.testing.assert_allclose(back[2], np.stack([target, target]), atol=1e-6)

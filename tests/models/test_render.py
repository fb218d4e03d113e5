"""The scene renderer: deterministic, boxes that fit the pixels, balanced labels, fast enough to feed training."""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from models.camera.backdrop import make_background
from models.camera.render import random_scene, render_scene
from models.camera.scene import LABELS, PersonSpec, label_for


def test_same_seed_same_scene_and_different_seed_different_scene() -> None:
    a_img, a_boxes = random_scene(np.random.default_rng(11), 320, 240)
    b_img, b_boxes = random_scene(np.random.default_rng(11), 320, 240)
    c_img, _ = random_scene(np.random.default_rng(12), 320, 240)
    assert np.array_equal(a_img, b_img) and a_boxes == b_boxes
    assert not np.array_equal(a_img, c_img)


@pytest.mark.parametrize(("width", "height"), [(320, 240), (320, 180), (640, 480)])
def test_boxes_lie_inside_the_frame_with_known_labels(width: int, height: int) -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        image, boxes = random_scene(rng, width, height)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        for box in boxes:
            assert box.label in LABELS
            assert 0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height


def test_labels_are_balanced() -> None:
    rng = np.random.default_rng(5)
    counts: Counter[str] = Counter()
    for _ in range(150):
        counts.update(b.label for b in random_scene(rng, 320, 240)[1])
    total = sum(counts.values())
    assert total > 250
    for label in LABELS:
        assert 0.15 < counts[label] / total < 0.35, counts


def test_explicit_people_get_their_labels_and_boxes_where_they_stand() -> None:
    people = [
        PersonSpec(60, 200, 120, "standing", helmet=True, vest=True, appearance=1),
        PersonSpec(140, 210, 120, "walking", helmet=False, vest=True, phase=1.0, appearance=2),
        PersonSpec(210, 220, 120, "standing", helmet=True, vest=False, appearance=3),
        PersonSpec(260, 120, 110, "down", helmet=False, vest=False, appearance=4),
    ]
    image, boxes = render_scene(people, width=320, height=240, seed=9)
    assert [b.label for b in boxes] == ["person_down", "person", "no_helmet", "no_vest"]  # drawn far to near
    upright = {b.label: b for b in boxes}
    assert upright["person"].x1 < 60 < upright["person"].x2 and abs(upright["person"].y2 - 200) < 8
    assert upright["person_down"].x2 - upright["person_down"].x1 > upright["person_down"].y2 - upright["person_down"].y1
    assert image.shape == (240, 320, 3)


def test_a_shared_background_keeps_the_site_still_between_frames() -> None:
    background = make_background(np.random.default_rng(1), 320, 240)
    walker = PersonSpec(100, 200, 100, "walking", appearance=7)
    a, _ = render_scene([walker], width=320, height=240, seed=1, background=background)
    b, _ = render_scene([walker], width=320, height=240, seed=2, background=background)
    assert np.mean(np.abs(a.astype(int) - b.astype(int))) < 12  # sensor noise only
    with pytest.raises(ValueError, match="background"):
        render_scene([], width=640, height=480, seed=1, background=background)


def test_label_rule() -> None:
    assert label_for("down", helmet=True, vest=True) == "person_down"
    assert label_for("walking", helmet=False, vest=False) == "no_helmet"
    assert label_for("standing", helmet=True, vest=False) == "no_vest"
    assert label_for("standing", helmet=True, vest=True) == "person"


def test_rendering_is_fast_enough_to_generate_data_on_the_fly() -> None:
    rng = np.random.default_rng(0)
    random_scene(rng, 320, 240)
    started = time.perf_counter()
    for _ in range(40):
        random_scene(rng, 320, 240)
    assert (time.perf_counter() - started) / 40 < 0.05  # ~7 ms here; generous for a loaded CI machine

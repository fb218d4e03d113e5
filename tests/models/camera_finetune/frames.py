"""Labelled frames for the fine-tuning tests: rendered scenes with their true boxes, as the label store gives them."""
from __future__ import annotations

import numpy as np

from models.camera.dataset import render_split
from models.camera.finetune import LabelledFrame
from models.camera.scene import LABELS


def labelled_frames(count: int, seed: int = 5, *, shuffle_classes: bool = False) -> list[LabelledFrame]:
    """``count`` rendered frames (RGB) with boxes in 0..1; ``shuffle_classes`` gives every box the next class."""
    split = render_split(seed, "train", count)
    out: list[LabelledFrame] = []
    for frame, boxes in zip(split.frames, split.boxes):
        h, w = frame.shape[:2]
        labels = [b.label for b in boxes]
        if shuffle_classes:
            labels = [LABELS[(LABELS.index(label) + 1) % len(LABELS)] for label in labels]
        corners = np.array([(b.x1 / w, b.y1 / h, b.x2 / w, b.y2 / h) for b in boxes]).reshape(-1, 4)
        out.append((np.ascontiguousarray(frame[..., ::-1]), corners, labels))
    return out

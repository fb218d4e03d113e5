"""Labels of the camera's hard examples: what an admin says is really in each uncertain frame (docs/trainer.md).

The synced ``snapshots`` table holds the frames (JPEG) and what the model saw;
this package keeps the people's answer per frame, append-only by revision, and
hands the labelled frames to the camera model's fine-tuning.
"""
from .classes import CLASSES
from .store import Box, HardExample, Label, LabelError, LabelStore

__all__ = ["CLASSES", "Box", "HardExample", "Label", "LabelError", "LabelStore"]

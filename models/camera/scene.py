"""What a rendered site scene contains: the people in it and their ground-truth boxes.

Kept apart from the drawing code so the demo (which places simulated workers)
and the dataset (which places random ones) share one vocabulary, and so the
label rule — one box per person, one label per box — lives in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LABELS: tuple[str, ...] = ("person", "no_helmet", "no_vest", "person_down")
"""The detector's classes, in output order. Changing them changes the model's contract."""

Pose = Literal["standing", "walking", "down"]


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """One person to draw, in frame pixels.

    ``x, y`` is the ground contact point: between the feet when upright, the
    middle of the body when down. ``height`` is the standing height (the body
    length when down). ``appearance`` seeds clothing, skin and hair so a
    simulated worker keeps the same look from frame to frame; ``phase``
    animates the gait of a walking figure.
    """

    x: float
    y: float
    height: float
    pose: Pose = "standing"
    helmet: bool = True
    vest: bool = True
    phase: float = 0.0
    appearance: int = 0

    @property
    def label(self) -> str:
        return label_for(self.pose, helmet=self.helmet, vest=self.vest)


@dataclass(frozen=True, slots=True)
class Box:
    """A ground-truth box: (x1, y1, x2, y2) in frame pixels, with its label."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


def label_for(pose: Pose, *, helmet: bool, vest: bool) -> str:
    """The single label of a person: a fall outranks missing PPE, a missing helmet outranks a missing vest."""
    if pose == "down":
        return "person_down"
    if not helmet:
        return "no_helmet"
    if not vest:
        return "no_vest"
    return "person"

"""A rollout's states and which actions move it from which states.

canary: only the canary devices get the candidate; promoted: every target
does; paused: nothing moves (devices keep what they were given); completed:
every target reported the candidate active. halted (a device rolled the
candidate back by itself) and rolled_back (an admin did) give every target
the baseline back and are final.
"""
from __future__ import annotations

from enum import Enum


class State(str, Enum):
    CANARY = "canary"
    PROMOTED = "promoted"
    PAUSED = "paused"
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"


LIVE = (State.CANARY, State.PROMOTED, State.PAUSED)
"""States in which a rollout still holds its targets: another rollout of the slot may not take them."""
HALTABLE = (*LIVE, State.COMPLETED)
"""A device's rollback report halts the rollout in these states (a completed one too: the candidate misbehaved)."""
FINAL = (State.HALTED, State.ROLLED_BACK)
"""The baseline is given back; nothing moves the rollout again."""

ACTIONS: dict[str, tuple[State, ...]] = {
    "promote": (State.CANARY, State.PAUSED),
    "pause": (State.CANARY, State.PROMOTED),
    "resume": (State.PAUSED,),
    "rollback": (*HALTABLE, State.HALTED),
}
"""The states each admin action starts from."""

"""Panic: the wearable's button pressed -> ``panic`` (PANIC) at once, no delay; a cancel press withdraws it.

The withdrawal is the worker's own act: its CLEARED transition names the
wearable (channel ``wearable``, the id its gateway account may publish for).
"""
from __future__ import annotations

from edge_runtime.alarms.model import Actor, AlarmKind, Channel, Notify

from .conditions import ConditionBoard, worker_subject
from .wearable_base import Responders, Wearer


class PanicRule:
    """Which workers' panic alarm is raised; their responders are told."""

    def __init__(self, board: ConditionBoard, responders: Responders) -> None:
        self._board = board
        self._responders = responders
        self._pressed: set[str] = set()

    def press(self, wearer: Wearer, ts: float) -> None:
        worker_id = wearer.worker.id
        if worker_id not in self._pressed:
            self._pressed.add(worker_id)
            self._board.raise_(worker_subject(worker_id), "panic", AlarmKind.PANIC, ts,
                               f"{wearer.label} pressed the panic button",
                               notify=Notify(workers=self._responders(worker_id, ts)))

    def withdraw(self, wearer: Wearer, ts: float) -> None:
        """The worker pressed cancel."""
        worker_id = wearer.worker.id
        if worker_id in self._pressed:
            self._pressed.discard(worker_id)
            self._board.clear(worker_subject(worker_id), "panic", ts, f"{wearer.label} cancelled the panic alarm",
                              actor=Actor(Channel.WEARABLE, wearer.device))

    def active(self, worker_id: str) -> bool:
        return worker_id in self._pressed

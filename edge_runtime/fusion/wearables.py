"""A worker's wearable: its rules together, fed by the fusion engine.

The rules are one module each: man_down.py (no-motion and fall), panic.py,
check_in.py (lone workers) and link_loss.py. This module starts them at the
wearable's first contact, routes readings and the cancel button to them, and
runs their timers worker by worker on each tick.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.config.site import SiteConfig
from firmware_bridge.readings import Motion

from .check_in import CheckInRule
from .conditions import ConditionBoard
from .link_loss import LinkLossRule
from .man_down import ManDownRule
from .panic import PanicRule
from .wearable_base import Responders, Wearer


class WearableMonitor:
    """Per-worker wearable rules; they report panic, check_in and link, and tell
    the engine (``on_down``) when the man-down base condition changes."""

    def __init__(
        self, config: SiteConfig, board: ConditionBoard, responders: Responders, on_down: Callable[[str, float], None]
    ) -> None:
        self._workers = {w.id: w for w in config.workers}
        self._link = LinkLossRule(config.battery.link_lost_s, board)
        self._man_down = ManDownRule(config.man_down, board, on_down)
        self._panic = PanicRule(board, responders)
        self._check_in = CheckInRule(config.check_in, board, responders)
        self._wearers: dict[str, Wearer] = {}

    def seen(self, worker_id: str, ts: float) -> Wearer:
        """Any telemetry from the worker's wearable: the link is alive."""
        wearer = self._wearers.get(worker_id)
        if wearer is None:
            return self._start(worker_id, ts)
        self._link.seen(wearer, ts)
        return wearer

    def motion(self, worker_id: str, m: Motion, ts: float) -> None:
        self.seen(worker_id, ts)
        self._man_down.motion(worker_id, m, ts)

    def panic(self, worker_id: str, pressed: bool, ts: float) -> None:
        """Pressed raises PANIC at once; a cancel press cancels pre-alarms and withdraws it."""
        wearer = self.seen(worker_id, ts)
        if pressed:
            self._panic.press(wearer, ts)
        else:
            self.cancel(worker_id, ts)
            self._panic.withdraw(wearer, ts)

    def check_in(self, worker_id: str, ts: float) -> None:
        """A check-in (button, app or API) restarts the lone worker's timer."""
        self._check_in.check_in(self._wearers.get(worker_id) or self._start(worker_id, ts), ts)

    def cancel(self, worker_id: str, ts: float) -> bool:
        """The worker pressed cancel: stop pending pre-alarms ("I am fine"); whether there was one."""
        wearer = self._wearers.get(worker_id)
        if wearer is None:
            return False
        man_down = self._man_down.cancel(worker_id, ts)
        check_in = self._check_in.cancel(wearer, ts)
        return man_down or check_in

    def is_down(self, worker_id: str) -> bool:
        return self._man_down.is_down(worker_id)

    def downed(self) -> list[str]:
        """Workers whose man-down alarm is running (their pulse is re-judged every tick)."""
        return self._man_down.downed()

    def down(self, worker_id: str) -> tuple[AlarmKind | None, str]:
        """The man-down base condition (NO_MOTION, FALL or None) and its description."""
        return self._man_down.down(worker_id)

    def heard_after(self, worker_id: str, since: float, now: float) -> bool:
        """The wearable is linked and sent telemetry after ``since``."""
        return self._link.heard_after(worker_id, since, now)

    def tick(self, now: float) -> None:
        """Link, fall confirmation, no-motion, pre-alarm deadlines and check-ins, worker by worker."""
        for worker_id, wearer in self._wearers.items():
            self._link.tick(wearer, now)
            self._man_down.tick(worker_id, now)
            self._check_in.tick(wearer, now)

    def view(self, worker_id: str, now: float) -> dict[str, Any] | None:
        if worker_id not in self._wearers:
            return None
        pre = self._man_down.pre_alarm(worker_id) or self._check_in.pre_alarm(worker_id)
        down, _ = self._man_down.down(worker_id)
        return {
            **self._link.view(worker_id),
            "still_for_s": self._man_down.still_for_s(worker_id, now),
            "pre_alarm": pre.kind.value if pre else None,
            "down": down.value if down else None, "panic": self._panic.active(worker_id),
            "check_in_due": self._check_in.due(worker_id),
        }

    def _start(self, worker_id: str, ts: float) -> Wearer:
        wearer = Wearer.of(self._workers[worker_id])
        self._wearers[worker_id] = wearer
        self._link.start(wearer, ts)
        self._man_down.start(wearer, ts)
        self._check_in.start(wearer, ts)
        return wearer

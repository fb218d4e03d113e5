"""When a switched-in model must be undone: the rollback policy as pure decisions, no I/O.

While a new model is watched the agent reads the slot's :class:`Health`
about once a second and asks :meth:`HealthWatch.verdict`; across daemon
restarts it asks :func:`boot_loop`. A reason (a sentence for the report and
the cloud's halt) means roll back now.
"""
from __future__ import annotations

from collections import deque

from edge_runtime.config.updates import RollbackPolicy

from .slots import Health


class HealthWatch:
    """One watch of one switch: the crash counts seen, to tell a crash loop from a crash long ago."""

    def __init__(self, policy: RollbackPolicy, since_ts: float, latency_budget_ms: float | None) -> None:
        self._policy = policy
        self.latency_budget_ms = latency_budget_ms
        self._samples: deque[tuple[float, int]] = deque([(since_ts, 0)])  # (ts, crashes since the switch)

    def verdict(self, health: Health, now: float) -> str | None:
        """Why the model must be undone now, or None while it is healthy."""
        if health.problem:
            return f"the slot reports a problem: {health.problem}"
        window = self._policy.crash_loop_window_s
        self._samples.append((now, health.crashes))
        while len(self._samples) > 1 and self._samples[1][0] <= now - window:
            self._samples.popleft()  # keep the last sample at or before the window's start as its baseline
        crashes = health.crashes - self._samples[0][1]
        if crashes >= self._policy.crash_loop_crashes:
            return f"crash loop: {crashes} crashes within {window:.0f} s"
        budget, p95 = self.latency_budget_ms, health.inference_p95_ms
        if budget is not None and p95 is not None and p95 > budget:
            return f"inference p95 {p95:.1f} ms over the budget of {budget:g} ms"
        return None


def boot_loop(boots: tuple[float, ...], policy: RollbackPolicy) -> str | None:
    """Why the previous model must boot instead: ``boots`` are the unclean starts within the window."""
    if len(boots) >= policy.boot_loop_boots:
        return (f"crash loop across restarts: {len(boots)} unclean starts within "
                f"{policy.boot_loop_window_s:.0f} s while the new model was watched")
    return None

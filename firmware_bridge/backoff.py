"""The one reconnect backoff policy, shared by serial, Modbus, MQTT and sync.

Every reconnecting component owns a :class:`Backoff` and follows the same
rule (after paho): the delay doubles on each failed attempt up to a ceiling
and is reset only after a *proven* success (data received, a request
answered), never merely after an ``open()`` that may fail again at once. That
keeps a flapping USB adapter from spinning at the minimum delay.
"""
from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with subtractive jitter.

    Jitter takes up to ``jitter`` (a fraction) *off* each delay, so delays never
    exceed ``maximum`` and several links lost at once (one hub unplugged) do
    not retry in lock-step.
    """

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0:
            raise ValueError("initial must be > 0")
        if maximum < initial:
            raise ValueError("maximum must be >= initial")
        if factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._base = initial
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Failed attempts since the last :meth:`reset` (delays handed out)."""
        return self._attempts

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the next one."""
        base = self._base
        self._attempts += 1
        # Grow iteratively and cap, so a link down for days cannot overflow a float.
        self._base = min(self.maximum, base * self.factor)
        if self.jitter:
            return base * (1.0 - self.jitter * self._rng.random())
        return base

    def reset(self) -> None:
        """Start again from ``initial``: call only after a proven success."""
        self._base = self.initial
        self._attempts = 0

    def __repr__(self) -> str:
        return f"Backoff(attempts={self._attempts}, next_base={self._base:.3f}s, max={self.maximum}s)"

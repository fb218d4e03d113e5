"""A lane's bandwidth cap: a token bucket over the compressed bytes it puts on the wire.

A batch's size is known only once it is encoded, and a batch larger than the
bucket must still go, so the bucket may go into debt: a lane sends while its
balance is not negative, pays for the whole body, and then waits until the
refill has paid the debt back. Over any long run the lane's bytes per second
stay at the cap (plus one second's burst at the start).
"""
from __future__ import annotations

from collections.abc import Callable

BURST_S = 1.0  # a full bucket holds this many seconds of the cap


class TokenBucket:
    """``rate`` bytes per second; ``None`` is unlimited (always ready, spending is free)."""

    def __init__(self, rate: float | None, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._capacity = (rate or 0.0) * BURST_S
        self._tokens = self._capacity
        self._at = clock()

    def wait_s(self) -> float:
        """Seconds until the lane may send again (0: now)."""
        if self.rate is None:
            return 0.0
        self._refill()
        return max(0.0, -self._tokens / self.rate)

    def spend(self, nbytes: int) -> None:
        """Pay for a body that went out (whatever the answer: the bytes used the uplink)."""
        if self.rate is not None:
            self._refill()
            self._tokens -= nbytes

    def _refill(self) -> None:
        now = self._clock()
        assert self.rate is not None
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

"""The sync agent's circuit breaker: after repeated failures, stop asking a cloud that is not there.

Closed: batches go (failures in between wait the shared ``Backoff``). After
``failures_to_open`` failures in a row, or at once when the cloud refuses the
device (401/403: retrying cannot help until someone fixes the credential), it
opens: nothing is sent for ``open_s``. Then it is half-open: one request may
try; its success closes the breaker, its failure opens it again.
"""
from __future__ import annotations

import enum
from collections.abc import Callable


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failures_to_open: int, open_s: float, clock: Callable[[], float]) -> None:
        self._failures_to_open = failures_to_open
        self._open_s = open_s
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if self._clock() < self._open_until else BreakerState.HALF_OPEN

    def wait_s(self) -> float:
        """Seconds until a request may go (0 when closed or half-open)."""
        return 0.0 if self._open_until is None else max(0.0, self._open_until - self._clock())

    def success(self) -> None:
        self._failures = 0
        self._open_until = None

    def failure(self) -> None:
        """A request failed (5xx, timeout, refused connection); a half-open trial reopens at once."""
        self._failures += 1
        if self._open_until is not None or self._failures >= self._failures_to_open:
            self.trip()

    def trip(self) -> None:
        """Open now (and for ``open_s``)."""
        self._open_until = self._clock() + self._open_s

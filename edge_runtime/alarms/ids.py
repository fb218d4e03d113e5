"""Alarm ids: short, unique, time-sortable and safe in MQTT topic levels.

16 characters of lowercase Crockford base32 (whose alphabet is in ASCII order,
so string order is numeric order): 10 for the millisecond timestamp, 6 for a
sequence that starts at a random point each millisecond (two edge nodes of a
site do not collide) and counts up within it (ids from one engine are strictly
increasing, even if the clock steps back). No '/', '+' or '#'.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_SEQ_BITS = 30
_TIME_CHARS = 10
_SEQ_CHARS = _SEQ_BITS // 5  # 30 bits: whole characters, so time and sequence encode as one number


def _encode(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


class AlarmIdFactory:
    """Callable that returns a new id each call, ordered by creation time."""

    def __init__(
        self, clock: Callable[[], float] = time.time, randbits: Callable[[int], int] = secrets.randbits
    ) -> None:
        self._clock = clock
        self._randbits = randbits
        self._last_ms = -1
        self._seq = 0

    def __call__(self) -> str:
        ms = int(self._clock() * 1000)
        if ms > self._last_ms:
            # Start in the lower half so a burst within one millisecond can still count up.
            self._last_ms, self._seq = ms, self._randbits(_SEQ_BITS - 1)
        else:
            self._seq += 1
            if self._seq >> _SEQ_BITS:  # sequence exhausted: borrow the next millisecond
                self._last_ms, self._seq = self._last_ms + 1, 0
        return _encode(self._last_ms << _SEQ_BITS | self._seq, _TIME_CHARS + _SEQ_CHARS)

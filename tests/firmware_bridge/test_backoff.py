"""The shared backoff policy: doubling, ceiling, jitter bounds, reset."""
from __future__ import annotations

import random
from typing import Any

import pytest

from firmware_bridge.backoff import Backoff


def test_doubles_up_to_maximum_without_jitter() -> None:
    b = Backoff(initial=0.1, maximum=1.0, factor=2.0, jitter=0.0)
    delays = [b.next_delay() for _ in range(7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert b.attempts == 7


def test_reset_starts_again_from_initial() -> None:
    b = Backoff(initial=0.5, maximum=8.0, jitter=0.0)
    for _ in range(4):
        b.next_delay()
    b.reset()
    assert b.attempts == 0
    assert b.next_delay() == pytest.approx(0.5)
    assert b.next_delay() == pytest.approx(1.0)


def test_jitter_only_shortens_and_is_seedable() -> None:
    a = Backoff(initial=1.0, maximum=4.0, jitter=0.25, rng=random.Random(7))
    b = Backoff(initial=1.0, maximum=4.0, jitter=0.25, rng=random.Random(7))
    seq_a = [a.next_delay() for _ in range(20)]
    assert seq_a == [b.next_delay() for _ in range(20)]
    bases = [1.0, 2.0] + [4.0] * 18
    for delay, base in zip(seq_a, bases, strict=True):
        assert base * 0.75 <= delay <= base
    assert max(seq_a) <= 4.0


def test_long_outage_does_not_overflow() -> None:
    b = Backoff(initial=0.1, maximum=30.0, jitter=0.0)
    for _ in range(5000):
        delay = b.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)

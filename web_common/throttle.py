"""The limit on failed sign-ins per account and per client address, kept in memory (one process).

An app whose replicas share sign-ins keeps the counts in its database instead.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


class LoginThrottle:
    """Limits failed sign-ins per account and per client address: ``attempts`` each, then a ``lockout_s`` wait.

    Both counts gate every attempt, so neither many addresses guessing at one
    account nor one address guessing at many gets through. An attempt counts
    when it starts, so logins sent in parallel cannot outrun the limit. A
    success forgets only the attempts at that account from that address:
    signing in to one account buys no more guesses at another, nor at the same
    account from elsewhere. Each count lives in a capped map whose entries
    expire ``lockout_s`` after their latest attempt, so a flood of made-up
    names evicts the oldest entries instead of growing memory.
    """

    def __init__(self, attempts: int, lockout_s: float, clock: Callable[[], float] = time.time, *,
                 capacity: int = 10_000) -> None:
        self._clock = clock
        self._by_account = _AttemptLog(attempts, lockout_s, capacity)  # account -> attempts by address
        self._by_address = _AttemptLog(attempts, lockout_s, capacity)  # address -> attempts by account

    def attempt(self, account: str, address: str) -> float | None:
        """Seconds before ``account`` may be tried from ``address`` again, or None after counting this attempt."""
        now = self._clock()
        waits = [w for w in (self._by_account.wait(account, now), self._by_address.wait(address, now)) if w is not None]
        if waits:
            return max(waits)
        self._by_account.add(account, address, now)
        self._by_address.add(address, account, now)
        return None

    def succeeded(self, account: str, address: str) -> None:
        self._by_account.forget(account, address)
        self._by_address.forget(address, account)

    def __len__(self) -> int:
        """How many accounts and addresses are being counted (bounded by twice the capacity)."""
        return len(self._by_account) + len(self._by_address)


@dataclass(slots=True)
class _Attempts:
    last: float  # time of the latest attempt
    by: dict[str, int]  # the other side (address or account) -> attempts


class _AttemptLog:
    """Recent attempts per key, split by the other side; the least recently tried key is first."""

    def __init__(self, limit: int, lockout_s: float, capacity: int) -> None:
        self._limit = limit
        self._lockout_s = lockout_s
        self._capacity = capacity
        self._entries: OrderedDict[str, _Attempts] = OrderedDict()

    def wait(self, key: str, now: float) -> float | None:
        """Seconds ``key`` must still wait, or None while it is under the limit."""
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None or sum(entry.by.values()) < self._limit:
            return None
        return entry.last + self._lockout_s - now

    def add(self, key: str, other: str, now: float) -> None:
        entry = self._entries.pop(key, None) or _Attempts(now, {})
        entry.last = now
        entry.by[other] = entry.by.get(other, 0) + 1
        self._entries[key] = entry
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, key: str, other: str) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.by.pop(other, None)
            if not entry.by:
                del self._entries[key]

    def _expire(self, now: float) -> None:
        while self._entries and now - next(iter(self._entries.values())).last >= self._lockout_s:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

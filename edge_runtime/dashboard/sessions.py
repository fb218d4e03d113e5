"""Signed-in dashboard sessions, kept in memory, and the limit on failed logins per account and address.

A session token is a random secret sent only as an HttpOnly cookie; the store
keeps its SHA-256, so a memory dump does not hand out live sessions. A
session ends after ``session_idle_s`` unused or ``session_max_s`` after login,
whichever comes first. A daemon restart signs everyone out, which is fine for
a dashboard: alarms keep sounding on site without it.
"""
from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .roles import Role

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

    from .accounts import Account


@dataclass(slots=True)
class Session:
    name: str
    display_name: str
    role: Role
    csrf: str  # sent back by the page in the X-CSRF-Token header of every state change
    created: float
    last_seen: float
    expires_ts: float
    token: str = ""  # set only on the Session create() returns: the store keeps the token's hash


class SessionStore:
    """Creates, finds and ends sessions; ``throttle`` limits failed logins per account and client address."""

    def __init__(self, settings: DashboardSettings, clock: Callable[[], float]) -> None:
        self._idle_s = settings.session_idle_s
        self._max_s = settings.session_max_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}  # sha256(token) -> session
        self.throttle = LoginThrottle(settings.login_attempts, settings.login_lockout_s, clock)

    def create(self, account: Account) -> Session:
        """A new session for ``account``; the returned Session carries the token for the cookie."""
        now = self._clock()
        self._prune(now)
        token = secrets.token_urlsafe(32)
        session = Session(
            name=account.name, display_name=account.display_name or account.name, role=account.role,
            csrf=secrets.token_urlsafe(32), created=now, last_seen=now, expires_ts=self._expiry(now, now),
        )
        self._sessions[_digest(token)] = session
        return replace(session, token=token)

    def get(self, token: str) -> Session | None:
        """The live session of ``token``, marked as used now; None once it has expired."""
        key = _digest(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if now >= session.expires_ts:
            del self._sessions[key]
            return None
        session.last_seen = now
        session.expires_ts = self._expiry(session.created, now)
        return session

    def drop(self, token: str) -> None:
        self._sessions.pop(_digest(token), None)

    def drop_user(self, name: str) -> None:
        """Ends every session of ``name`` (its account was removed)."""
        for key in [k for k, s in self._sessions.items() if s.name == name]:
            del self._sessions[key]

    def _expiry(self, created: float, last_seen: float) -> float:
        return min(last_seen + self._idle_s, created + self._max_s)

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now >= s.expires_ts]:
            del self._sessions[key]


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

    def __init__(self, attempts: int, lockout_s: float, clock: Callable[[], float], *,
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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

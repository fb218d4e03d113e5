"""Signed-in dashboard sessions, kept in memory, and the per-address limit on failed logins.

A session token is a random secret sent only as an HttpOnly cookie; the store
keeps its SHA-256, so a memory dump does not hand out live sessions. A
session ends after ``session_idle_s`` unused or ``session_max_s`` after login,
whichever comes first. A daemon restart signs everyone out, which is fine for
a dashboard: alarms keep sounding on site without it.
"""
from __future__ import annotations

import hashlib
import secrets
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
    """Creates, finds and ends sessions; ``throttle`` limits failed logins per client address."""

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
    """After ``attempts`` failed logins from one address, refuses it for ``lockout_s``.

    An attempt counts when it starts, so logins sent in parallel cannot
    outrun the limit; a success forgets the address's failures.
    """

    def __init__(self, attempts: int, lockout_s: float, clock: Callable[[], float]) -> None:
        self._attempts = attempts
        self._lockout_s = lockout_s
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (attempts, time of the latest)

    def attempt(self, address: str) -> float | None:
        """Seconds ``address`` must still wait, or None after counting this attempt."""
        now = self._clock()
        count, last = self._failures.get(address, (0, now))
        if now - last >= self._lockout_s:
            count = 0
        if count >= self._attempts:
            return last + self._lockout_s - now
        self._forget_old(now)
        self._failures[address] = (count + 1, now)
        return None

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _forget_old(self, now: float) -> None:
        for address in [a for a, (_, last) in self._failures.items() if now - last >= self._lockout_s]:
            del self._failures[address]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

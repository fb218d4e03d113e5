"""Signed-in sessions, kept in memory.

A session token is a random secret sent only as an HttpOnly cookie; the store
keeps its SHA-256, so a memory dump does not hand out live sessions. A
session ends after ``idle_s`` unused or ``max_s`` after sign-in, whichever
comes first. A restart signs everyone out, which suits the edge dashboard:
alarms keep sounding on site without it.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from .roles import OrderedRole

R = TypeVar("R", bound=OrderedRole)
R_co = TypeVar("R_co", bound=OrderedRole, covariant=True)


class Principal(Protocol[R_co]):
    """Who signs in: any account type with these attributes."""

    @property
    def name(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def role(self) -> R_co: ...


@dataclass(slots=True)
class Session(Generic[R]):
    name: str
    display_name: str
    role: R
    csrf: str  # sent back by the page in the CSRF header of every state change
    created: float
    last_seen: float
    expires_ts: float
    token: str = ""  # set only on the Session create() returns: the store keeps the token's hash


class SessionStore(Generic[R]):
    """Creates, finds and ends sessions."""

    def __init__(self, *, idle_s: float, max_s: float, clock: Callable[[], float] = time.time) -> None:
        self._idle_s = idle_s
        self._max_s = max_s
        self._clock = clock
        self._sessions: dict[str, Session[R]] = {}  # sha256(token) -> session

    def create(self, account: Principal[R]) -> Session[R]:
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

    def get(self, token: str) -> Session[R] | None:
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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

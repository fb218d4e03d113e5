"""Admin sessions in the database (``admin_sessions``), so that any replica knows every signed-in admin.

The cookie carries a random token; the table keeps its SHA-256 and the CSRF
token the page sends back. A session ends ``idle_s`` after its last use or
``max_s`` after sign-in, whichever comes first; its last use is written at
most every ``TOUCH_EVERY_S`` (one write per request would make every read a
write). The role is read from the account on every lookup, so a changed or
removed account takes effect on the next request.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, select, update

from web_common.sessions import Session

from .accounts import Account
from .roles import Role
from .tables import admin_accounts, admin_sessions

TOUCH_EVERY_S = 30.0


class AdminSessions:
    def __init__(self, engine: Engine, *, idle_s: float, max_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._idle_s = idle_s
        self._max_s = max_s
        self._clock = clock

    def create(self, account: Account) -> Session[Role]:
        """A new session for ``account``; the returned Session carries the token for the cookie."""
        now = self._clock()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = min(now + self._idle_s, now + self._max_s)
        with self._engine.begin() as conn:
            conn.execute(admin_sessions.insert().values(token_sha256=_digest(token), account=account.name, csrf=csrf,
                                                        created_ts=now, last_seen_ts=now, expires_ts=expires))
        return Session(name=account.name, display_name=account.display_name or account.name, role=account.role,
                       csrf=csrf, created=now, last_seen=now, expires_ts=expires, token=token)

    def get(self, token: str) -> Session[Role] | None:
        """The live session of ``token``, marked as used; None once it has expired or its account is gone."""
        now = self._clock()
        key = _digest(token)
        query = (select(admin_sessions, admin_accounts.c.display_name, admin_accounts.c.role)
                 .join(admin_accounts, admin_accounts.c.name == admin_sessions.c.account)
                 .where(admin_sessions.c.token_sha256 == key, admin_sessions.c.expires_ts > now))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        last_seen, expires = row["last_seen_ts"], row["expires_ts"]
        if now - last_seen >= TOUCH_EVERY_S:
            last_seen, expires = now, min(now + self._idle_s, row["created_ts"] + self._max_s)
            with self._engine.begin() as conn:
                conn.execute(update(admin_sessions).where(admin_sessions.c.token_sha256 == key)
                             .values(last_seen_ts=last_seen, expires_ts=expires))
        return Session(name=row["account"], display_name=row["display_name"] or row["account"],
                       role=Role.parse(row["role"]), csrf=row["csrf"], created=row["created_ts"],
                       last_seen=last_seen, expires_ts=expires)

    def drop(self, token: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(admin_sessions).where(admin_sessions.c.token_sha256 == _digest(token)))

    def prune(self, now: float) -> int:
        """Drops expired sessions (housekeeping); how many."""
        with self._engine.begin() as conn:
            return conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_ts <= now)).rowcount


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

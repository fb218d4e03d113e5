"""The limit on sign-ins per account and per client address, kept in the database for every replica.

An attempt is written before the password is checked and the others counted after, so
sign-ins sent in parallel, to one replica or to several, cannot outrun the
limit: at worst they are all refused. A refused attempt is not kept (it does
not prolong the wait); a success forgets only that account's attempts from
that address, as on the dashboard. Each attempt also drops those older than
the lockout, so the table holds only the current window.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, select

from .tables import signin_attempts

ATTEMPTS = 5
LOCKOUT_S = 300.0


class SigninThrottle:
    def __init__(self, engine: Engine, *, attempts: int = ATTEMPTS, lockout_s: float = LOCKOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._attempts = attempts
        self._lockout_s = lockout_s
        self._clock = clock

    def attempt(self, account: str, address: str) -> float | None:
        """Seconds to wait before ``account`` may be tried from ``address`` again, or None: go ahead."""
        now = self._clock()
        window = now - self._lockout_s
        with self._engine.begin() as conn:
            conn.execute(delete(signin_attempts).where(signin_attempts.c.ts < window))
            attempt_id = conn.execute(signin_attempts.insert().values(account=account, address=address, ts=now)
                                      ).inserted_primary_key[0]
        waits = []
        with self._engine.begin() as conn:
            for column, value in ((signin_attempts.c.account, account), (signin_attempts.c.address, address)):
                count, newest = conn.execute(select(func.count(), func.max(signin_attempts.c.ts)).where(
                    column == value, signin_attempts.c.ts >= window, signin_attempts.c.id != attempt_id)).one()
                if count >= self._attempts:
                    waits.append(newest + self._lockout_s - now)
            if waits:
                conn.execute(delete(signin_attempts).where(signin_attempts.c.id == attempt_id))
        return max(waits) if waits else None

    def succeeded(self, account: str, address: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(signin_attempts).where(signin_attempts.c.account == account,
                                                       signin_attempts.c.address == address))

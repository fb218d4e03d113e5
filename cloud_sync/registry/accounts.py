"""Admin accounts of the cloud: a name, a role and an argon2id password hash, in ``admin_accounts``.

Checking a password costs tens of milliseconds of CPU on purpose (argon2); an
unknown name costs the same, so timing does not tell which names exist.
Removing an account ends its sessions.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from web_common.passwords import hash_password, verify_password, verify_unknown

from .errors import Conflict, NotFound
from .roles import Role
from .tables import admin_accounts, admin_sessions


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    display_name: str
    role: Role


class AdminAccounts:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def add(self, name: str, role: Role, password: str, display_name: str = "") -> Account:
        """Adds an account; :class:`Conflict` if the name is taken."""
        row = {"name": name, "display_name": display_name, "role": role.label,
               "password_hash": hash_password(password), "created_ts": self._clock()}
        try:
            with self._engine.begin() as conn:
                conn.execute(admin_accounts.insert().values(row))
        except IntegrityError:
            raise Conflict(f"account {name!r} already exists") from None
        return Account(name, display_name, role)

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is right, else None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(admin_accounts).where(admin_accounts.c.name == name)).mappings().first()
        if row is None:
            verify_unknown(password)
            return None
        return _account(row) if verify_password(row["password_hash"], password) else None

    def list(self) -> list[Account]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(admin_accounts).order_by(admin_accounts.c.name)).mappings()
            return [_account(row) for row in rows]

    def remove(self, name: str) -> None:
        """Removes the account and ends its sessions; :class:`NotFound` if there is none."""
        with self._engine.begin() as conn:
            conn.execute(delete(admin_sessions).where(admin_sessions.c.account == name))
            if not conn.execute(delete(admin_accounts).where(admin_accounts.c.name == name)).rowcount:
                raise NotFound(f"no account {name!r}")


def _account(row: RowMapping) -> Account:
    return Account(row["name"], row["display_name"], Role.parse(row["role"]))

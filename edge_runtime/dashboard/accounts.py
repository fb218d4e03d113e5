"""Who may sign in to the dashboard: accounts from the site file and from the edge database.

Site-file accounts are fixed for the life of the process and win over a
database account of the same name; database accounts (``siteguard accounts``
or the admin API) can be added and removed while the daemon runs, in the
store's ``accounts`` table. Every method may block (SQLite, password hashing):
the HTTP handlers call them in a thread.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edge_runtime.store.accounts_table import AccountsTable
from web_common.passwords import hash_password, verify_password, verify_unknown

from .roles import Role

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

Source = Literal["config", "database"]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    display_name: str
    role: Role
    source: Source


class AccountError(Exception):
    """An account change that cannot be made; the message says why."""


class AccountExists(AccountError):
    pass


class AccountNotFound(AccountError):
    pass


class AccountReadOnly(AccountError):
    """A site-file account: only editing the site file changes it."""


class AccountStore:
    """Looks accounts up and checks passwords; keeps database accounts in the ``accounts`` table.

    The database must already be migrated (the daemon's Store does it before
    the HTTP server starts; the CLI does it itself).
    """

    def __init__(
        self, settings: DashboardSettings, db_path: Path, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = {
            a.name: (Account(a.name, a.display_name, Role.parse(a.role), "config"), a.password_hash)
            for a in settings.accounts
        }
        self._clock = clock
        self._table = AccountsTable(db_path)

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is right; unknown names cost the same time as wrong passwords."""
        found = self._find(name)
        if found is None:
            verify_unknown(password)
            return None
        account, hashed = found
        return account if verify_password(hashed, password) else None

    def get(self, name: str) -> Account | None:
        found = self._find(name)
        return found[0] if found else None

    def list(self) -> list[Account]:
        """Every account, by name; a database account hidden by a site-file one is left out."""
        rows = self._table.names()
        stored = [Account(n, d, Role.parse(r), "database") for n, d, r in rows if n not in self._config]
        return sorted([a for a, _ in self._config.values()] + stored, key=lambda a: a.name)

    def add(self, name: str, role: Role, password: str, display_name: str = "") -> Account:
        """Adds a database account; raises :class:`AccountExists` if the name is taken anywhere."""
        if name in self._config:
            raise AccountExists(f"account {name!r} is defined in the site file")
        if not self._table.insert(name, display_name, role.label, hash_password(password), self._clock()):
            raise AccountExists(f"account {name!r} already exists")
        return Account(name, display_name, role, "database")

    def remove(self, name: str) -> None:
        """Removes a database account (its open sessions are the caller's to end)."""
        if name in self._config:
            raise AccountReadOnly(f"account {name!r} is defined in the site file: remove it there")
        if not self._table.delete(name):
            raise AccountNotFound(f"no account {name!r}")

    def close(self) -> None:
        self._table.close()

    def _find(self, name: str) -> tuple[Account, str] | None:
        if name in self._config:
            return self._config[name]
        row = self._table.find(name)
        if row is None:
            return None
        display_name, role, hashed = row
        return Account(name, display_name, Role.parse(role), "database"), hashed

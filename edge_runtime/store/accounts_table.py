"""The ``accounts`` table: dashboard accounts kept on the device.

Adding or removing an account needs an answer at once (a name already taken
is the admin's error to see), so these statements run on a connection of
their own in the caller, not through the store process; docs/store.md says
why that is safe. Every method may block: call them off the event loop.
The connection is opened on first use, so a daemon whose disk is full still
starts (site-file accounts sign in without it); until it can be opened each
call raises sqlite3.Error.
"""
from __future__ import annotations

import sqlite3

from .side_table import SideTable

_INSERT = (
    "INSERT INTO accounts (name, display_name, role, password_hash, created_ts, updated_ts)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class AccountsTable(SideTable):
    """Rows of ``accounts`` over an already migrated file; one statement at a time, from any thread."""

    def names(self) -> list[tuple[str, str, str]]:
        """(name, display_name, role) of every account."""
        with self._lock:
            return self._connection().execute("SELECT name, display_name, role FROM accounts").fetchall()

    def find(self, name: str) -> tuple[str, str, str] | None:
        """(display_name, role, password_hash) of ``name``, or None."""
        with self._lock:
            return self._connection().execute(
                "SELECT display_name, role, password_hash FROM accounts WHERE name = ?", (name,)
            ).fetchone()

    def insert(self, name: str, display_name: str, role: str, password_hash: str, ts: float) -> bool:
        """Add an account; False if ``name`` is taken."""
        try:
            with self._lock:
                self._connection().execute(_INSERT, (name, display_name, role, password_hash, ts, ts))
        except sqlite3.IntegrityError:
            return False
        return True

    def delete(self, name: str) -> bool:
        """Remove an account; False if there was none."""
        with self._lock:
            return self._connection().execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount > 0

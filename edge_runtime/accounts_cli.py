"""``siteguard accounts``: dashboard accounts from the command line.

``hash`` prints an argon2id hash to paste into the site file
(``dashboard.accounts[].password_hash``), so the file never holds a password.
``add``, ``list`` and ``remove`` manage the accounts kept in the edge database
the site file names (``storage.path``), creating or migrating it if needed;
they work while the daemon runs. Passwords are asked twice on the terminal,
or read as one line of standard input with ``--stdin`` (for scripts). The
rules are the admin API's: 10 characters at least.

Exit status: 0 done; 1 refused (passwords differ or too short, name taken or
unknown, database unusable); 2 the site file is invalid, naming each bad key.
"""
from __future__ import annotations

import argparse
import getpass
import sqlite3
import sys
from collections.abc import Callable
from typing import Annotated

from pydantic import TypeAdapter, ValidationError

from edge_runtime.cli_support import EXIT_CONFIG, load_site
from edge_runtime.dashboard.accounts import AccountError, AccountStore
from edge_runtime.dashboard.roles import Role
from edge_runtime.dashboard.schemas import AccountIn
from edge_runtime.store.migrations import migrate_file
from web_common.passwords import hash_password

EXIT_REFUSED = 1


class Refused(Exception):
    """Ends a command with a message on stderr and exit status 1."""


def add_accounts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("accounts", help="dashboard accounts: hash a password, add, list or remove one",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="accounts_command", required=True)

    c = cmds.add_parser("hash", help="print an argon2id hash of a password, for the site file")
    c.add_argument("--stdin", action="store_true", help="read the password from standard input")
    c.set_defaults(func=cmd_hash)

    c = cmds.add_parser("add", help="add an account to the database the site file names")
    c.add_argument("name", help="login name, recorded on every action")
    c.add_argument("--role", required=True, choices=[r.label for r in Role], help="what the account may do")
    c.add_argument("--display-name", default="", help="the name the dashboard shows")
    c.add_argument("--config", required=True, help="site configuration (YAML)")
    c.add_argument("--stdin", action="store_true", help="read the password from standard input")
    c.set_defaults(func=cmd_add)

    c = cmds.add_parser("list", help="list the site file's and the database's accounts")
    c.add_argument("--config", required=True, help="site configuration (YAML)")
    c.set_defaults(func=cmd_list)

    c = cmds.add_parser("remove", help="remove an account from the database")
    c.add_argument("name", help="login name")
    c.add_argument("--config", required=True, help="site configuration (YAML)")
    c.set_defaults(func=cmd_remove)


def cmd_hash(args: argparse.Namespace) -> int:
    return _run(lambda: print(hash_password(_password(args.stdin))))


def cmd_add(args: argparse.Namespace) -> int:
    def add(store: AccountStore) -> None:
        name, display_name = _valid("name", args.name), _valid("display_name", args.display_name)
        if store.get(name) is not None:  # before asking for a password
            raise Refused(f"account {name!r} already exists")
        account = store.add(name, Role.parse(args.role), _password(args.stdin), display_name)
        print(f"added {account.role.label} {account.name}")

    return _with_store(args.config, add)


def cmd_list(args: argparse.Namespace) -> int:
    def show(store: AccountStore) -> None:
        for a in store.list():
            print(f"{a.name:<24} {a.role.label:<10} {a.source:<8} {a.display_name}".rstrip())

    return _with_store(args.config, show)


def cmd_remove(args: argparse.Namespace) -> int:
    def remove(store: AccountStore) -> None:
        store.remove(args.name)
        print(f"removed {args.name}; sessions it has open on a running daemon end when they expire "
              "(removing it from the dashboard ends them at once)")

    return _with_store(args.config, remove)


def _with_store(config_path: str, action: Callable[[AccountStore], None]) -> int:
    """Runs ``action`` on the accounts of the site file's database, creating or migrating it first."""
    config = load_site(config_path)
    if config is None:
        return EXIT_CONFIG
    db_path = config.storage.path
    try:
        migrate_file(db_path)
        store = AccountStore(config.dashboard, db_path)
    except (OSError, sqlite3.Error) as exc:
        print(f"siteguard accounts: cannot open the database {db_path}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return _run(lambda: action(store))
    finally:
        store.close()


def _run(action: Callable[[], None]) -> int:
    try:
        action()
    except (Refused, AccountError) as exc:
        print(f"siteguard accounts: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _password(from_stdin: bool) -> str:
    """The new password, from one line of stdin or asked twice on the terminal; checked like the API does."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != password:
            raise Refused("the passwords differ")
    return _valid("password", password)


def _valid(field: str, value: str) -> str:
    """``value`` if it passes the admin API's rule for ``field`` (of AccountIn)."""
    try:
        return TypeAdapter(Annotated[str, AccountIn.model_fields[field]]).validate_python(value)
    except ValidationError as exc:
        raise Refused(f"{field}: " + "; ".join(e["msg"] for e in exc.errors())) from None

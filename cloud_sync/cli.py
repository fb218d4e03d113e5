"""``siteguard cloud``: run the cloud service and manage its registry from the command line.

``serve`` runs the service (migrating the database first), ``migrate`` only
migrates. ``admin``, ``token`` and ``device`` talk to the database directly,
through the same registry library as the admin API: they work before any
admin exists (the first ``admin add`` is how a fleet starts), without a
running service or a token to reach it, and with the same rules as the API.
Each migrates the database first, so they work on a fresh one too.
``predict`` tries a registered model out through a running service's API
(``--url``, an admin ``--token``), as the console does.

``--db`` takes a SQLAlchemy URL (``postgresql://...``) or a SQLite file path;
without it, ``cloud.db`` in the data directory (``--data-dir``, else
``$SITEGUARD_CLOUD_DATA``, else ``~/.local/share/siteguard-cloud``).
A secret (credential, token) is printed once on standard output, alone on its
line, or written to ``--credential-file`` (mode 600); messages go to stderr.

Exit status: 0 done; 1 refused (unknown id, taken name, bad profile,
passwords differ or too short); 2 bad usage.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from cloud_sync.db.engine import make_engine
from cloud_sync.db.migrate import upgrade
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.devices import DeviceIn, DeviceRegistry, IssuedCredential
from cloud_sync.registry.errors import RegistryError
from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.rollout import cli as rollout_cli
from cloud_sync.service.schemas import AccountIn
from cloud_sync.service.settings import DEFAULT_PORT, ServiceSettings
from cloud_sync.training import cli as training_cli

EXIT_REFUSED = 1
ROLES = [r.label for r in Role]


class Refused(Exception):
    """Ends a command with its message on stderr and exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siteguard cloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cloud_command", required=True)
    p = _command(sub, "serve", cmd_serve, "run the cloud service (migrates the database first)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0: any free one)")
    p.add_argument("--trusted-keys", default=None, help="file of hex Ed25519 keys model uploads may be signed by")
    p.add_argument("--signing-key", default=None, help="the key the cloud signs the packages it builds with")
    p.add_argument("--model-cache-size", type=int, default=None, help="models the try-out API keeps loaded")
    p.add_argument("--jobs", default=None, help="training job queue: redis://HOST:PORT/DB (default: in the data dir)")
    _command(sub, "migrate", cmd_migrate, "create or upgrade the database schema")
    training_cli.add_commands(sub, _command, _settings)
    p = sub.add_parser("predict", help="try a registered model out on a file, through a running service")
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("file", help="an image (.jpg, .png) for a camera model, .json for a risk model")
    p.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the service")
    p.add_argument("--token", default=None, help="an admin API token (default: $SITEGUARD_CLOUD_TOKEN)")
    p.set_defaults(func=cmd_predict)
    rollout_cli.add_commands(sub)

    admin = _group(sub, "admin", "admin accounts")
    p = _command(admin, "add", cmd_admin_add, "add an admin account (password asked twice, or from a file)", "name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--display-name", default="")
    p.add_argument("--password-file", default=None, help="read the password from this file's first line")
    _command(admin, "list", cmd_admin_list, "list admin accounts")
    _command(admin, "remove", cmd_admin_remove, "remove an admin account and end its sessions", "name")

    token = _group(sub, "token", "admin API tokens")
    p = _command(token, "create", cmd_token_create, "create a token and print it once")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--label", default="command line", help="what the token is for")
    _command(token, "list", cmd_token_list, "list tokens (never their secrets)")
    _command(token, "revoke", cmd_token_revoke, "revoke a token at once", "token_id")

    device = _group(sub, "device", "the fleet registry")
    p = _command(device, "register", cmd_device_register, "register a device and issue its credential", "device_id")
    p.add_argument("--site", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--type", required=True, dest="device_type", help="selects the device's data definitions")
    p.add_argument("--profile", required=True, help="hardware profile: a JSON file, or JSON text")
    _credential_file(p)
    p = _command(device, "list", cmd_device_list, "list devices as JSON lines")
    p.add_argument("--site", default=None)
    p = _command(device, "rotate", cmd_device_rotate, "issue a new credential (old keys overlap, or --revoke-old)",
                 "device_id")
    p.add_argument("--revoke-old", action="store_true", help="refuse the old keys at once")
    _credential_file(p)
    _command(device, "revoke", cmd_device_revoke, "revoke one key at once", "device_id", "key_id")
    _command(device, "decommission", cmd_device_decommission, "refuse the device from now on (its data stays)",
             "device_id")
    return parser


Subparsers = argparse._SubParsersAction  # argparse names no public type for it


def _group(sub: Subparsers, name: str, help: str) -> Subparsers:
    return sub.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", required=True)


def _command(group: Subparsers, name: str, func: Callable[[argparse.Namespace], int], help: str,
             *positionals: str) -> argparse.ArgumentParser:
    """A leaf command with the database options, its positional arguments and its function."""
    p = group.add_parser(name, help=help)
    p.add_argument("--db", default=None, help="database URL or SQLite file (default: cloud.db in the data dir)")
    p.add_argument("--data-dir", default=None, help="the service's data directory")
    for positional in positionals:
        p.add_argument(positional)
    p.set_defaults(func=func)
    return p


def _credential_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("--credential-file", default=None, help="write the credential here (mode 600), not to stdout")


def cmd_serve(args: argparse.Namespace) -> int:
    from cloud_sync.model_registry.config import export
    from cloud_sync.service.launch import serve_forever

    settings = ServiceSettings.for_cli(args.db, args.data_dir, host=args.host, port=args.port, jobs_url=args.jobs)
    export(os.environ, trusted_keys=args.trusted_keys, signing_key_path=args.signing_key,
           cache_size=args.model_cache_size)
    asyncio.run(serve_forever(settings))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from cloud_sync.model_registry.client import TOKEN_ENV, PredictFailed, predict

    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"refused: pass --token or set {TOKEN_ENV}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        answer = predict(args.url, token, args.name, args.version, Path(args.file))
    except PredictFailed as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(answer, indent=2))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    url = _settings(args).db_url
    upgrade(url)
    _say(f"migrated {_safe(url)}")
    return 0


def cmd_admin_add(args: argparse.Namespace) -> int:
    def add(engine: Engine) -> None:
        password = _password(args.password_file)
        try:
            valid = AccountIn(name=args.name, role=args.role, password=password, display_name=args.display_name)
        except ValidationError as exc:
            raise Refused("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        account = AdminAccounts(engine).add(valid.name, Role.parse(valid.role), password, valid.display_name)
        _say(f"added {account.role.label} {account.name}")

    return _run(args, add)


def cmd_admin_list(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: _lines(f"{a.name}\t{a.role.label}\t{a.display_name}"
                                            for a in AdminAccounts(engine).list()))


def cmd_admin_remove(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: AdminAccounts(engine).remove(args.name))


def cmd_token_create(args: argparse.Namespace) -> int:
    def create(engine: Engine) -> None:
        issued = ApiTokens(engine).create(args.label, Role.parse(args.role), created_by=f"cli:{getpass.getuser()}")
        _say(f"token {issued.id} ({issued.role}); it is shown only now")
        print(issued.token)

    return _run(args, create)


def cmd_token_list(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: _lines(t.model_dump_json() for t in ApiTokens(engine).list()))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: ApiTokens(engine).revoke(args.token_id))


def cmd_device_register(args: argparse.Namespace) -> int:
    def register(engine: Engine) -> None:
        try:
            new = DeviceIn(id=args.device_id, site=args.site, name=args.name, device_type=args.device_type,
                           profile=_profile(args.profile))
        except ValidationError as exc:
            raise Refused(str(exc)) from None
        _, issued = DeviceRegistry(engine).register(new)
        _hand_out(issued, args.credential_file)

    return _run(args, register)


def cmd_device_list(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: _lines(d.model_dump_json() for d in DeviceRegistry(engine).list(args.site)))


def cmd_device_rotate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return _run(args, lambda engine: _hand_out(
        DeviceRegistry(engine, key_overlap_s=settings.key_overlap_s).rotate(args.device_id,
                                                                            revoke_old=args.revoke_old),
        args.credential_file))


def cmd_device_revoke(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: DeviceRegistry(engine).revoke(args.device_id, args.key_id))


def cmd_device_decommission(args: argparse.Namespace) -> int:
    return _run(args, lambda engine: DeviceRegistry(engine).decommission(args.device_id))


def _run(args: argparse.Namespace, command: Callable[[Engine], object]) -> int:
    """Migrates, runs ``command`` on an engine, and turns a refusal into a message and exit status 1."""
    url = _settings(args).db_url
    try:
        upgrade(url)
        with _engine(url) as engine:
            command(engine)
    except (Refused, RegistryError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _settings(args: argparse.Namespace) -> ServiceSettings:
    return ServiceSettings.for_cli(args.db, args.data_dir)


def _password(path: str | None) -> str:
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise Refused(f"cannot read a password from {path}: {exc}") from None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise Refused("the passwords differ")
    return first


def _profile(text: str) -> object:
    try:
        return json.loads(text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Refused(f"--profile must be a JSON file or JSON text: {exc}") from None


def _hand_out(issued: IssuedCredential, path: str | None) -> None:
    """The credential on stdout, or in a new file only its owner can read."""
    if path is None:
        _say(f"device {issued.device} key {issued.key_id}: the credential is shown only now")
        print(issued.credential)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(issued.credential + "\n")
    _say(f"device {issued.device} key {issued.key_id}: credential written to {path}")


def _lines(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


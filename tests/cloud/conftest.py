"""The cloud suite's databases: a SQLite file, and a real throw-away PostgreSQL cluster.

The cluster is Debian's ``postgresql`` (installed by ``make test``): ``initdb``
and ``pg_ctl`` into a temp dir on a free loopback port, once per session, run
as the ``postgres`` system user when the suite runs as root (PostgreSQL
refuses root). Each test gets a fresh database copied from a migrated
template, which takes milliseconds instead of a migration per test.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from cloud_sync.db.engine import make_engine
from cloud_sync.db.migrate import upgrade

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 60
TEMPLATE = "siteguard_template"


def _pg_binaries() -> Path | None:
    if (PG_BIN / "initdb").exists():
        return PG_BIN
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL cluster's admin URL (database ``postgres``), stopped at the end of the session."""
    binaries = _pg_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL binaries (Debian package postgresql) are not installed: make test installs them")
    root = Path(tempfile.mkdtemp(prefix="siteguard-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(root, user)
        as_user = ["runuser", "-u", user, "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, str(binaries / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "-D", str(data)], check=True, capture_output=True, timeout=START_TIMEOUT_S)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c fsync=off -c unix_socket_directories={root}"
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options,
                        "-w", "-t", str(START_TIMEOUT_S), "start"], check=True, capture_output=True,
                       timeout=START_TIMEOUT_S + 10)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        upgrade(_database(url, TEMPLATE))
        yield url
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def cloud_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated cloud database: a SQLite file, or a PostgreSQL database copied from the template."""
    if request.param == "sqlite":
        path = tmp_path / "cloud.db"
        upgrade(str(path))
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("postgres_url")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    try:
        yield _database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def cloud_engine(cloud_url: str) -> Iterator[Engine]:
    engine = make_engine(cloud_url)
    yield engine
    engine.dispose()

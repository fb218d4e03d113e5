"""Dashboard accounts: the store (site file and database), the admin API and `siteguard accounts`."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlite_utils import Database

from edge_runtime.config import ConfigError, parse_config
from edge_runtime.config.dashboard import DashboardSettings
from edge_runtime.dashboard.accounts import (
    Account,
    AccountExists,
    AccountNotFound,
    AccountReadOnly,
    AccountStore,
)
from edge_runtime.dashboard.keys import API
from edge_runtime.dashboard.roles import Role
from edge_runtime.store.migrations import migrate
from tests.broker import Mosquitto
from tests.dashboard.harness import ACCOUNTS, DashboardClient, account_entries, dashboard_site, signed_in
from tests.e2e.harness import REPO
from web_common.passwords import verify_password

SETTINGS = DashboardSettings.model_validate({"accounts": list(account_entries())})
NEW = {"name": "nina", "display_name": "Nina N", "role": "supervisor", "password": "nina-password-1"}


def migrated(path: Path) -> Path:
    migrate(Database(path))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccountStore]:
    accounts = AccountStore(SETTINGS, migrated(tmp_path / "edge.db"))
    yield accounts
    accounts.close()


# -- the store ------------------------------------------------------------------------------------------

def test_site_file_accounts_sign_in_with_their_password_only(store: AccountStore) -> None:
    assert store.authenticate("sam", ACCOUNTS["sam"][1]) == Account("sam", "Sam", Role.SUPERVISOR, "config")
    assert store.authenticate("sam", ACCOUNTS["ada"][1]) is None
    assert store.authenticate("nobody", ACCOUNTS["sam"][1]) is None


def test_database_accounts_are_added_listed_and_removed(store: AccountStore) -> None:
    added = store.add("nina", Role.SUPERVISOR, NEW["password"], "Nina N")
    assert added == Account("nina", "Nina N", Role.SUPERVISOR, "database")
    assert store.authenticate("nina", NEW["password"]) == added == store.get("nina")
    assert [(a.name, a.source) for a in store.list()] == [
        ("ada", "config"), ("nina", "database"), ("sam", "config"), ("vera", "config")]
    with pytest.raises(AccountExists, match="already exists"):
        store.add("nina", Role.VIEWER, "another-password")
    store.remove("nina")
    assert store.get("nina") is None and store.authenticate("nina", NEW["password"]) is None
    with pytest.raises(AccountNotFound):
        store.remove("nina")


def test_site_file_accounts_cannot_be_added_or_removed_and_win_over_the_database(
    store: AccountStore, tmp_path: Path
) -> None:
    with pytest.raises(AccountExists, match="site file"):
        store.add("sam", Role.ADMIN, "takeover-password")
    with pytest.raises(AccountReadOnly, match="site file"):
        store.remove("sam")
    # a database account made before the same name went into the site file
    other = AccountStore(DashboardSettings(), tmp_path / "edge.db")
    other.add("sam", Role.ADMIN, "takeover-password")
    other.close()
    assert store.get("sam") == Account("sam", "Sam", Role.SUPERVISOR, "config")
    assert store.authenticate("sam", "takeover-password") is None
    assert [a.source for a in store.list() if a.name == "sam"] == ["config"]


def test_a_bcrypt_hash_the_build_cannot_check_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused when the site file loads (exit 2 naming the key), not at the first sign-in."""
    import edge_runtime.config.dashboard as dashboard_config

    monkeypatch.setattr(dashboard_config, "find_spec", lambda name: None)
    data = {"site": {"id": "s", "origin_lat": 0, "origin_lon": 0}, "dashboard": {"accounts": [
        *account_entries(), {"name": "old", "role": "viewer", "password_hash": "$2b$12$" + "a" * 53}]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    [(key, problem)] = caught.value.problems
    assert key == "dashboard.accounts.3.password_hash" and "bcrypt" in problem


# -- the admin API ---------------------------------------------------------------------------------------

async def test_admins_manage_database_accounts_over_the_api(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port) as (_, __, url):
        async with signed_in(url, "ada") as admin:
            status, listed = await admin.get(f"{API}/accounts")
            assert status == 200
            assert {(a["name"], a["role"], a["source"]) for a in listed["accounts"]} == {
                ("vera", "viewer", "config"), ("sam", "supervisor", "config"), ("ada", "admin", "config")}
            status, created = await admin.post(f"{API}/accounts", NEW)
            assert (status, created) == (201, {"name": "nina", "display_name": "Nina N", "role": "supervisor",
                                               "source": "database"})
            assert (await admin.post(f"{API}/accounts", NEW))[0] == 409
            assert (await admin.post(f"{API}/accounts", {**NEW, "name": "sam"}))[0] == 409
            status, invalid = await admin.post(f"{API}/accounts", {**NEW, "name": "x y", "password": "short"})
            assert status == 422 and {d.split(":")[0] for d in invalid["details"]} == {"body.name", "body.password"}

            nina = DashboardClient(url)
            try:
                assert (await nina.login("nina", NEW["password"]))["role"] == "supervisor"
                assert (await admin.request("DELETE", f"{API}/accounts/nina"))[0] == 204
                assert (await nina.get(f"{API}/session"))[0] == 401  # removal ends its sessions
            finally:
                await nina.close()
            assert (await admin.request("DELETE", f"{API}/accounts/nina"))[0] == 404
            status, refused = await admin.request("DELETE", f"{API}/accounts/ada")
            assert status == 409 and "site file" in refused["error"]


# -- siteguard accounts ----------------------------------------------------------------------------------

def siteguard(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_runtime", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def site_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "site.yaml"
    data = {"site": {"id": "cli-site", "origin_lat": 0, "origin_lon": 0},
            "storage": {"path": str(tmp_path / "data" / "edge.db")}, **extra}
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_cli_hashes_a_password_for_the_site_file() -> None:
    done = siteguard("accounts", "hash", "--stdin", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert verify_password(done.stdout.strip(), "a long enough password")
    short = siteguard("accounts", "hash", "--stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


def test_the_cli_adds_lists_and_removes_database_accounts(tmp_path: Path) -> None:
    site = str(site_file(tmp_path, dashboard={"accounts": [account_entries()[2]]}))
    added = siteguard("accounts", "add", "nina", "--role", "supervisor", "--display-name", "Nina N",
                      "--config", site, "--stdin", stdin=NEW["password"] + "\n")
    assert added.returncode == 0, added.stderr  # the database is created and migrated on the way
    listed = siteguard("accounts", "list", "--config", site)
    assert listed.returncode == 0
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [
        ["ada", "admin", "config"], ["nina", "supervisor", "database"]]
    again = siteguard("accounts", "add", "nina", "--role", "viewer", "--config", site, "--stdin",
                      stdin=NEW["password"] + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert siteguard("accounts", "remove", "ada", "--config", site).returncode == 1  # site-file account
    assert siteguard("accounts", "remove", "nina", "--config", site).returncode == 0
    gone = siteguard("accounts", "remove", "nina", "--config", site)
    assert gone.returncode == 1 and "no account 'nina'" in gone.stderr


def test_the_cli_refuses_a_bad_name_or_site_file(tmp_path: Path) -> None:
    site = str(site_file(tmp_path))
    bad_name = siteguard("accounts", "add", "no spaces", "--role", "viewer", "--config", site, "--stdin",
                         stdin=NEW["password"] + "\n")
    assert bad_name.returncode == 1 and "name:" in bad_name.stderr
    bad_site = str(site_file(tmp_path, dashboard={"session_idle_s": -1}))
    listed = siteguard("accounts", "list", "--config", bad_site)
    assert listed.returncode == 2 and "dashboard.session_idle_s" in listed.stderr


async def test_an_account_added_by_the_cli_signs_in_to_the_running_daemon(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with dashboard_site(tmp_path, mosquitto.port) as (site, _, url):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_runtime", "accounts", "add", "nina", "--role", "viewer",
            "--config", str(site.write_config()), "--stdin", cwd=REPO,
            stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate((NEW["password"] + "\n").encode())
        assert proc.returncode == 0, err
        client = DashboardClient(url)
        try:
            assert (await client.login("nina", NEW["password"]))["role"] == "viewer"
        finally:
            await client.close()

"""The registry on a migrated database (SQLite and PostgreSQL): devices, keys, heartbeats, nonces,
sign-in attempts, API tokens, admin accounts and sessions, with a clock the tests move."""
from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.registry import tables
from cloud_sync.registry.accounts import AdminAccounts
from cloud_sync.registry.devices import DeviceIn, DevicePatch, DeviceRegistry
from cloud_sync.registry.errors import Conflict, NotFound
from cloud_sync.registry.heartbeats import Heartbeat, HeartbeatStore
from cloud_sync.registry.nonces import NonceLedger
from cloud_sync.registry.profile import HardwareProfile
from cloud_sync.registry.roles import Role
from cloud_sync.registry.sessions import AdminSessions
from cloud_sync.registry.throttle import SigninThrottle
from cloud_sync.registry.tokens import ApiTokens

T0 = 1_800_000_000.0
JETSON = HardwareProfile.model_validate({
    "cpu_arch": "aarch64", "accelerator": "cuda", "memory_mb": 8192, "gpu_compute_capability": "8.7",
    "runtimes": {"tensorrt": "8.6.2", "cuda": "12.2", "onnxruntime": "1.17.1"},
})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(cloud_engine: Engine, clock: Clock) -> DeviceRegistry:
    return DeviceRegistry(cloud_engine, key_overlap_s=600, clock=clock)


def jetson(device_id: str = "edge-1", site: str = "plant-a") -> DeviceIn:
    return DeviceIn(id=device_id, site=site, name="Tank farm gateway", device_type="jetson-gw", profile=JETSON)


def test_registration_returns_the_credential_once_and_stores_only_the_public_key(
        registry: DeviceRegistry, cloud_engine: Engine) -> None:
    device, issued = registry.register(jetson())
    credential = DeviceCredential.parse(issued.credential)
    assert (credential.device, credential.key_id) == ("edge-1", issued.key_id)
    assert device.profile == JETSON and registry.get("edge-1") == device
    with cloud_engine.connect() as conn:
        stored = [dict(r) for r in conn.execute(select(tables.device_keys)).mappings()]
    assert [r["public_key"] for r in stored] == [credential.public_key()]
    assert issued.credential.rsplit(".", 1)[1] not in repr(stored)
    with pytest.raises(Conflict, match="already registered"):
        registry.register(jetson())


def test_update_list_and_decommission(registry: DeviceRegistry, clock: Clock) -> None:
    registry.register(jetson("edge-1"))
    registry.register(jetson("edge-2", site="plant-b"))
    clock.now += 5
    changed = registry.update("edge-1", DevicePatch(name="Renamed"))
    assert changed.name == "Renamed" and changed.updated_ts == T0 + 5 and changed.site == "plant-a"
    assert [d.id for d in registry.list()] == ["edge-1", "edge-2"]
    assert [d.id for d in registry.list(site="plant-b")] == ["edge-2"]
    gone = registry.decommission("edge-2")
    assert gone.decommissioned_ts == T0 + 5 and registry.decommission("edge-2") == gone
    with pytest.raises(Conflict, match="decommissioned"):
        registry.update("edge-2", DevicePatch(name="x"))
    with pytest.raises(Conflict, match="decommissioned"):
        registry.rotate("edge-2")
    with pytest.raises(NotFound):
        registry.get("edge-3")


def test_a_rotated_key_overlaps_then_expires_and_a_revoked_one_stops_at_once(
        registry: DeviceRegistry, clock: Clock) -> None:
    _, first = registry.register(jetson())
    clock.now += 1
    second = registry.rotate("edge-1")
    old = registry.signing_key("edge-1", first.key_id)
    assert old is not None and old.usable(T0 + 600) and not old.usable(T0 + 601)
    clock.now += 100
    third = registry.rotate("edge-1")  # a second rotation does not extend the first key's overlap
    assert [k.expires_ts for k in registry.keys("edge-1")] == [T0 + 601, T0 + 701, None]
    registry.revoke("edge-1", second.key_id)
    assert not registry.signing_key("edge-1", second.key_id).usable(clock.now)
    fourth = registry.rotate("edge-1", revoke_old=True)
    assert not registry.signing_key("edge-1", third.key_id).usable(clock.now)
    assert registry.signing_key("edge-1", fourth.key_id).usable(clock.now + 10**6)
    assert registry.signing_key("edge-2", fourth.key_id) is None
    with pytest.raises(NotFound):
        registry.revoke("edge-1", "nope")


def test_a_device_is_online_until_two_of_its_intervals_pass_in_silence(
        registry: DeviceRegistry, cloud_engine: Engine, clock: Clock) -> None:
    registry.register(jetson())
    heartbeats = HeartbeatStore(cloud_engine, clock=clock)
    beat = Heartbeat.model_validate({"ts": T0, "interval_s": 30, "quarantined": 2, "newer_field": 1,
                                     "lanes": {"events": {"backlog_rows": 4, "backlog_bytes": 400}}})
    assert heartbeats.record("edge-1", beat) == T0
    clock.now += 59.9
    [status] = heartbeats.statuses().values()
    assert status.online and status.heartbeat.lanes["events"].backlog_rows == 4
    clock.now += 0.1
    assert not heartbeats.statuses(["edge-1"])["edge-1"].online
    heartbeats.record("edge-1", beat.model_copy(update={"interval_s": 10.0}))
    assert heartbeats.statuses()["edge-1"].online and heartbeats.statuses(["edge-2"]) == {}


def test_a_nonce_is_claimed_once_and_pruned_when_stale(cloud_engine: Engine) -> None:
    nonces = NonceLedger(cloud_engine)
    assert nonces.claim("edge-1", "ab" * 16, T0 + 300)
    assert not nonces.claim("edge-1", "ab" * 16, T0 + 300)
    assert nonces.claim("edge-2", "ab" * 16, T0 + 300)
    assert nonces.prune(T0 + 299) == 0 and nonces.prune(T0 + 301) == 2


def test_sign_in_throttle_per_account_and_address(cloud_engine: Engine, clock: Clock) -> None:
    throttle = SigninThrottle(cloud_engine, attempts=3, lockout_s=60, clock=clock)
    assert [throttle.attempt("ada", "10.0.0.1") for _ in range(3)] == [None] * 3
    assert throttle.attempt("ada", "10.0.0.2") == 60  # the account is locked from everywhere
    assert throttle.attempt("bob", "10.0.0.1") == 60  # and the address for every account
    clock.now += 30
    assert throttle.attempt("ada", "10.0.0.3") == 30  # a refused attempt does not prolong the wait
    throttle.succeeded("ada", "10.0.0.1")
    assert throttle.attempt("ada", "10.0.0.1") is None
    clock.now += 61
    assert throttle.attempt("bob", "10.0.0.1") is None


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(cloud_engine: Engine, clock: Clock) -> None:
    tokens = ApiTokens(cloud_engine, clock=clock)
    issued = tokens.create("ci deploys", Role.OPERATOR, created_by="ada")
    with cloud_engine.connect() as conn:
        assert issued.token not in repr(conn.execute(select(tables.admin_tokens)).all())
    found = tokens.authenticate(issued.token)
    assert found is not None and (found.id, found.role, found.last_used_ts) == (issued.id, "operator", T0)
    assert tokens.authenticate(issued.token + "x") is None and tokens.authenticate("Bearer x") is None
    assert tokens.list()[0].last_used_ts == T0
    tokens.revoke(issued.id)
    assert tokens.authenticate(issued.token) is None
    with pytest.raises(NotFound):
        tokens.revoke("nope")


def test_admin_accounts_and_their_database_sessions(cloud_engine: Engine, clock: Clock) -> None:
    accounts = AdminAccounts(cloud_engine, clock=clock)
    ada = accounts.add("ada", Role.ADMIN, "admin-password-1", "Ada")
    with pytest.raises(Conflict):
        accounts.add("ada", Role.VIEWER, "another-password")
    assert accounts.authenticate("ada", "admin-password-1") == ada
    assert accounts.authenticate("ada", "wrong") is None and accounts.authenticate("nobody", "x") is None
    sessions = AdminSessions(cloud_engine, idle_s=100, max_s=250, clock=clock)
    session = sessions.create(ada)
    assert session.token and sessions.get(session.token).csrf == session.csrf
    for _ in range(2):  # used every 90 s: the idle limit moves, the absolute one does not
        clock.now += 90
        assert sessions.get(session.token) is not None
    clock.now += 90  # 270 s after sign-in
    assert sessions.get(session.token) is None
    other = sessions.create(ada)
    clock.now += 100
    assert sessions.get(other.token) is None and sessions.prune(clock.now) == 2
    third = sessions.create(ada)
    accounts.remove("ada")
    assert sessions.get(third.token) is None and accounts.list() == []
    with pytest.raises(NotFound):
        accounts.remove("ada")

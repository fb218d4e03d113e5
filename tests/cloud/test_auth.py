"""Device authentication on the real service (SQLite and PostgreSQL): every refusal of docs/sync.md
answered with its status and reason, and the bodies of the batch endpoint checked in order."""
from __future__ import annotations

import time

import zstandard

from cloud_sync.contract import batch, signing
from cloud_sync.contract.signing import DeviceCredential
from tests.cloud.test_service_harness import Cloud, DeviceClient, cloud, readings_batch  # noqa: F401

HEARTBEAT = b'{"ts": 1.0, "interval_s": 30}'


async def test_a_signed_heartbeat_is_kept_and_the_device_shows_online(cloud: Cloud) -> None:
    device = await cloud.register("edge-1")
    got = await device.heartbeat(lanes={"events": {"backlog_rows": 3, "backlog_bytes": 300}})
    assert got.status == 200 and abs(got.body["server_ts"] - time.time()) < 5
    listed = await cloud.admin().call("GET", "/devices/edge-1")
    assert listed.body["status"]["online"] is True
    assert listed.body["status"]["heartbeat"]["lanes"]["events"]["backlog_rows"] == 3


async def test_forged_replayed_stale_and_unknown_requests_are_401(cloud: Cloud) -> None:
    device = await cloud.register("edge-1")
    forger = DeviceClient(cloud.http, DeviceCredential("edge-1", device.credential.key_id,
                                                       DeviceCredential.generate("edge-1").private_key))
    assert (await forger.post("heartbeat", HEARTBEAT)).body["error"] == "bad signature"
    path = "/v1/devices/edge-1/heartbeat"
    headers = device.signed(path, HEARTBEAT)
    assert (await device.post("heartbeat", HEARTBEAT, headers=headers)).status == 200
    replay = await device.post("heartbeat", HEARTBEAT, headers=headers)
    assert (replay.status, replay.body["error"]) == (401, "replayed nonce")
    tampered = await device.post("heartbeat", HEARTBEAT.replace(b"30", b"31"), headers=device.signed(path, HEARTBEAT))
    assert (tampered.status, tampered.body["error"]) == (401, "bad signature")
    stale = await device.post("heartbeat", HEARTBEAT, now=time.time() - signing.MAX_SKEW_S - 5)
    assert stale.status == 401 and stale.body["error"].startswith("stale timestamp")
    stranger = DeviceClient(cloud.http, DeviceCredential.generate("edge-9"))
    assert (await stranger.heartbeat()).body["error"] == "unknown device key"
    unsigned = await device.post("heartbeat", HEARTBEAT, headers={})
    assert unsigned.status == 401 and unsigned.body["error"].startswith("missing header")


async def test_another_devices_path_and_a_decommissioned_device_are_403(cloud: Cloud) -> None:
    one, _ = await cloud.register("edge-1"), await cloud.register("edge-2")
    other = await one.post("heartbeat", HEARTBEAT, device="edge-2")
    assert (other.status, other.body["error"]) == (403, "signed by device edge-1, not edge-2")
    assert (await cloud.admin().call("DELETE", "/devices/edge-1")).body["decommissioned_ts"] is not None
    gone = await one.heartbeat()
    assert (gone.status, gone.body["error"]) == (403, "device edge-1 is decommissioned")
    assert (await one.batch(readings_batch("edge-1"))).status == 403


async def test_rotation_overlaps_revocation_is_immediate(cloud: Cloud) -> None:
    old = await cloud.register("edge-1")
    rotated = await cloud.admin().call("POST", "/devices/edge-1/credentials", {})
    assert rotated.status == 201
    new = DeviceClient(cloud.http, DeviceCredential.parse(rotated.body["credential"]))
    assert (await new.heartbeat()).status == 200 and (await old.heartbeat()).status == 200  # the overlap
    revoked = await cloud.admin().call("DELETE", f"/devices/edge-1/credentials/{old.credential.key_id}")
    assert revoked.status == 200 and revoked.body["revoked_ts"] is not None
    assert (await old.heartbeat()).body["error"] == "revoked or expired device key"
    again = await cloud.admin().call("POST", "/devices/edge-1/credentials", {"revoke_old": True})
    newest = DeviceClient(cloud.http, DeviceCredential.parse(again.body["credential"]))
    assert (await new.heartbeat()).status == 401 and (await newest.heartbeat()).status == 200
    keys = await cloud.admin().call("GET", "/devices/edge-1/credentials")
    assert [k["revoked_ts"] is None for k in keys.body["keys"]] == [False, False, True]


async def test_batch_bodies_corrupt_oversized_foreign_and_good(cloud: Cloud) -> None:
    device = await cloud.register("edge-1")
    corrupt = await device.batch(b"\x28\xb5\x2f\xfd garbage")
    assert corrupt.status == 400 and corrupt.body["error"].startswith("not a zstd frame")
    not_msgpack = await device.batch(zstandard.ZstdCompressor().compress(b"\xc1"))
    assert not_msgpack.status == 400 and not_msgpack.body["error"].startswith("not msgpack")
    foreign = await device.batch(readings_batch("edge-2"))
    assert (foreign.status, foreign.body["error"]) == (400, "the batch is device edge-2's, signed by edge-1")
    oversized = await device.batch(b"\0" * (batch.MAX_BODY_BYTES + 1))
    assert oversized.status == 413 and oversized.body["details"] == [f"at most {batch.MAX_BODY_BYTES} bytes"]
    good = await device.batch(readings_batch("edge-1", rows=10))
    assert good.status == 200, good
    assert [(d["table"], d["rows"], d["duplicate"]) for d in good.body["durable"]] == [("readings", 10, False)]

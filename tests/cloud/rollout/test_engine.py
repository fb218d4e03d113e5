"""The rollout library on SQLite and PostgreSQL with a test clock: targets, canaries and the baseline at
creation; desired states through canary, promotion, pause, halt and rollback; automatic promotion
needing both the healthy period and the confirmed alarms; the first rollback report halting the rollout
for every device; reports filling the registry's record of what ran where."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from cloud_sync.contract.rollout import DesiredState, DeviceReport
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.errors import Conflict, NotFound
from cloud_sync.rollout.records import PinIn, RolloutIn
from cloud_sync.rollout.selectors import Selector
from cloud_sync.rollout.service import RolloutService
from cloud_sync.rollout.tables import rollout_events
from models.package import sha256_file
from tests.cloud.model_registry.packages import CAMERA, Signer
from tests.cloud.test_registry import Clock, clock  # noqa: F401

from .fleet import ENGINE_FILE, ORIN, PI, X86, add_devices, register_versions, report, rolled_back, slot

FLEET = {"j1": ("jetson", ORIN), "j2": ("jetson", ORIN), "j3": ("jetson", ORIN), "j4": ("jetson", ORIN),
         "p1": ("pi", PI), "p2": ("pi", PI)}


@pytest.fixture
def fleet(cloud_engine: Engine, tmp_path: Path, signer: Signer, packages: Path, clock: Clock) -> RolloutService:
    registry = register_versions(cloud_engine, tmp_path / "store", signer, packages)
    add_devices(cloud_engine, FLEET)
    add_devices(cloud_engine, {"x1": ("server", X86)}, site="plant-b")
    service = RolloutService.build(cloud_engine, DeviceRegistry(cloud_engine), ModelRegistry(
        cloud_engine, tmp_path / "store", clock=clock), environ={"SITEGUARD_REPORT_INTERVAL_S": "5"}, clock=clock)
    service.pins.set(PinIn(slot="camera", scope="site", key="plant-a", model=CAMERA, version="1.0.0"), "ada")
    assert registry.versions(CAMERA)
    return service


def start(service: RolloutService, **options: Any) -> str:
    spec = RolloutIn(slot="camera", model=CAMERA, version="1.1.0", target=Selector(sites=["plant-a"]),
                     **{"canary_share": 0.2, "healthy_period_s": 600, "min_confirmed_alarms": 3, **options})
    return service.store.create(spec, "ada").id


def desired(service: RolloutService, device_id: str) -> DesiredState:
    return service.desired.for_device(service.devices.get(device_id))


def send(service: RolloutService, device_id: str, body: dict[str, Any]) -> list[str]:
    return service.reports.accept(service.devices.get(device_id), DeviceReport.model_validate(body)).halted


def versions(service: RolloutService) -> dict[str, str | None]:
    return {d: (desired(service, d).models.get("camera") or None) and desired(service, d).models["camera"].version
            for d in [*FLEET, "x1"]}


def test_create_fixes_targets_canaries_and_baseline(fleet: RolloutService) -> None:
    fleet.pins.set(PinIn(slot="camera", scope="device", key="j4", model=CAMERA, version="1.0.0"), "ada")
    created = fleet.store.get(start(fleet))
    assert created.state.value == "canary" and created.baseline_version == "1.0.0"  # what the site pin gave
    assert sorted(d.device_id for d in created.devices) == ["j1", "j2", "j3", "p1", "p2"]  # not j4 (pinned), x1
    assert len(created.canary_devices) == 2 and {c[0] for c in created.canary_devices} == {"j", "p"}
    assert [e.kind for e in created.events] == ["created"] and created.events[0].by == "ada"

    canary_jetson = next(c for c in created.canary_devices if c.startswith("j"))
    canary_pi = next(c for c in created.canary_devices if c.startswith("p"))
    jetson = desired(fleet, canary_jetson).models["camera"]
    assert (jetson.version, jetson.stage, jetson.rollout_id) == ("1.1.0", "canary", created.id)
    assert jetson.artifact == ENGINE_FILE and (jetson.shadow_s, jetson.watch_s) == (60.0, 120.0)
    assert desired(fleet, canary_pi).models["camera"].artifact == "model_int8.tflite"
    archive = fleet.archives.archive(CAMERA, "1.1.0", Path())
    assert jetson.package_sha256 == sha256_file(archive.path) and jetson.package_bytes == archive.path.stat().st_size
    assert jetson.url == f"/v1/devices/{canary_jetson}/packages/{CAMERA}/1.1.0"
    others = versions(fleet)
    assert others == {**{d: "1.0.0" for d in FLEET}, canary_jetson: "1.1.0", canary_pi: "1.1.0", "x1": None}
    assert desired(fleet, "j1").report_interval_s == 5

    with pytest.raises(Conflict, match="live rollout"):
        start(fleet)
    with pytest.raises(NotFound):
        fleet.store.create(RolloutIn(slot="camera", model=CAMERA, version="7.0"), "ada")
    with pytest.raises(Conflict, match="detection model"):
        fleet.store.create(RolloutIn(slot="risk", model=CAMERA, version="1.1.0"), "ada")
    with pytest.raises(Conflict, match="no live device"):
        fleet.store.create(RolloutIn(slot="camera", model=CAMERA, version="1.1.0",
                                     target=Selector(sites=["nowhere"])), "ada")


def test_the_archive_is_built_once_and_the_same_everywhere(fleet: RolloutService, tmp_path: Path) -> None:
    first = fleet.archives.archive(CAMERA, "1.0.0", fleet.registry.package_dir(fleet.registry.get(CAMERA, "1.0.0")))
    stamp = first.path.stat().st_mtime_ns
    again = type(fleet.archives)(fleet.registry.store.root).archive(CAMERA, "1.0.0", Path("/nonexistent"))
    assert again == first and first.path.stat().st_mtime_ns == stamp  # cached on disk: not built again
    first.path.unlink()
    rebuilt = type(fleet.archives)(fleet.registry.store.root).archive(
        CAMERA, "1.0.0", fleet.registry.package_dir(fleet.registry.get(CAMERA, "1.0.0")))
    assert rebuilt.sha256 == first.sha256  # deterministic bytes: any replica builds the same archive


def test_promotion_needs_the_healthy_period_and_the_confirmed_alarms(fleet: RolloutService, clock: Clock) -> None:
    rollout_id = start(fleet, healthy_period_s=600, min_confirmed_alarms=3)
    canaries = fleet.store.get(rollout_id).canary_devices
    for device in canaries:
        assert send(fleet, device, report({"camera": slot("shadow", "1.0.0", rollout_id=rollout_id)})) == []
    clock.now += 700
    progress = fleet.store.get(rollout_id).progress
    assert (progress.canary_active, progress.canary_healthy, progress.remaining_s) == (0, 0, None)

    for device in canaries:  # switched in now: the healthy period starts here
        send(fleet, device, report({"camera": slot("watching", "1.1.0", rollout_id=rollout_id, confirmed=2)}))
    clock.now += 300
    got = fleet.store.get(rollout_id)
    assert got.state.value == "canary" and got.progress.remaining_s == 300 and got.progress.confirmed == 4
    clock.now += 301  # healthy long enough; confirmed alarms are enough too, but the first device saw
    send(fleet, canaries[0], report({"camera": slot("active", "1.1.0", confirmed=0)}))  # a count reset
    got = fleet.store.get(rollout_id)
    assert got.state.value == "canary" and got.progress.canary_healthy == 2 and got.progress.confirmed == 2

    send(fleet, canaries[0], report({"camera": slot("active", "1.1.0", confirmed=1)}))  # 1 + 2 >= 3
    got = fleet.store.get(rollout_id)
    assert got.state.value == "promoted" and got.events[-1].kind == "promoted" and got.events[-1].by == "auto"
    assert "3 confirmed alarms" in (got.events[-1].reason or "")
    assert set(v for d, v in versions(fleet).items() if d != "x1") == {"1.1.0"}

    for device in FLEET:
        send(fleet, device, report({"camera": slot("active", "1.1.0")}))
    assert fleet.store.get(rollout_id).state.value == "completed"


def test_confirmed_alarms_alone_do_not_promote(fleet: RolloutService, clock: Clock) -> None:
    rollout_id = start(fleet, healthy_period_s=600, min_confirmed_alarms=1)
    for device in fleet.store.get(rollout_id).canary_devices:
        send(fleet, device, report({"camera": slot("active", "1.1.0", confirmed=50)}))
    clock.now += 599
    for device in fleet.store.get(rollout_id).canary_devices:
        send(fleet, device, report({"camera": slot("active", "1.1.0", confirmed=60)}))
    assert fleet.store.get(rollout_id).state.value == "canary"


def test_the_first_rollback_report_halts_the_rollout_for_every_device(fleet: RolloutService) -> None:
    rollout_id = start(fleet, canary_share=0.5)
    canaries = fleet.store.get(rollout_id).canary_devices
    fleet.store.act(rollout_id, "promote", "ada")
    assert set(v for d, v in versions(fleet).items() if d != "x1") == {"1.1.0"}

    first, second = canaries[:2]
    halted = send(fleet, first, report({"camera": slot("rolled_back", "1.0.0", rollout_id=rollout_id,
                                                       reason="inference p95 31 ms over the 20 ms budget")},
                                       [rolled_back("1.1.0", rollout_id, "inference p95 31 ms over the 20 ms budget")]))
    assert halted == [rollout_id]
    got = fleet.store.get(rollout_id)
    assert got.state.value == "halted" and f"device {first} rolled back" in (got.reason or "")
    assert (got.events[-1].kind, got.events[-1].by, got.events[-1].device_id) == ("halted", f"device:{first}", first)
    assert next(d for d in got.devices if d.device_id == first).rolled_back_reason.startswith("inference p95")
    for device in FLEET:  # every other device's next poll gives the baseline back and names the halt
        state = desired(fleet, device)
        assert state.models["camera"].version == "1.0.0" and state.halted == [rollout_id]
    assert send(fleet, second, report(events=[rolled_back("1.1.0", None, "crash loop")])) == []  # halted already
    assert [e.kind for e in fleet.store.get(rollout_id).events].count("halted") == 1
    with pytest.raises(Conflict):
        fleet.store.act(rollout_id, "resume", "ada")
    assert fleet.store.act(rollout_id, "rollback", "ada", "cleaning up").state.value == "rolled_back"


def test_a_device_halts_only_rollouts_it_is_in(fleet: RolloutService) -> None:
    rollout_id = start(fleet)
    assert send(fleet, "x1", report(events=[rolled_back("1.1.0", rollout_id, "not mine")])) == []
    assert fleet.store.get(rollout_id).state.value == "canary"
    canary = fleet.store.get(rollout_id).canary_devices[0]
    refused = {**rolled_back("1.1.0", rollout_id, "sha256 mismatch"), "kind": "refused"}
    assert send(fleet, canary, report(events=[refused])) == []  # a bad download halts nothing
    worse = {**rolled_back("1.1.0", None, "agreement 0.62 with the active model"), "kind": "shadow_failed"}
    assert send(fleet, canary, report(events=[worse])) == [rollout_id]  # worse in the shadow run: halted
    row = next(d for d in fleet.store.get(rollout_id).devices if d.device_id == canary)
    assert row.rolled_back_reason == "agreement 0.62 with the active model"


def test_manual_pause_resume_promote_and_rollback(fleet: RolloutService) -> None:
    rollout_id = start(fleet)
    canaries = set(fleet.store.get(rollout_id).canary_devices)
    given = {d for d, v in versions(fleet).items() if v == "1.1.0"}
    assert given == canaries
    assert fleet.store.act(rollout_id, "pause", "ada", "looking at it").state.value == "paused"
    assert {d for d, v in versions(fleet).items() if v == "1.1.0"} == canaries  # canaries keep it
    assert fleet.store.act(rollout_id, "resume", "ada").state.value == "canary"
    assert fleet.store.act(rollout_id, "promote", "bo").state.value == "promoted"
    assert fleet.store.act(rollout_id, "pause", "ada").state.value == "paused"
    assert {d for d, v in versions(fleet).items() if v == "1.1.0"} == set(FLEET)
    assert fleet.store.act(rollout_id, "resume", "ada").state.value == "promoted"
    done = fleet.store.act(rollout_id, "rollback", "ada", "worse at night")
    assert done.state.value == "rolled_back" and done.reason == "worse at night"
    assert {v for d, v in versions(fleet).items() if d != "x1"} == {"1.0.0"}
    assert desired(fleet, "j1").halted == [rollout_id]
    assert [(e.kind, e.by) for e in done.events] == [
        ("created", "ada"), ("paused", "ada"), ("resumed", "ada"), ("promoted", "bo"), ("paused", "ada"),
        ("resumed", "ada"), ("rolled_back", "ada")]
    with pytest.raises(Conflict, match="cannot promote"):
        fleet.store.act(rollout_id, "promote", "ada")
    with pytest.raises(NotFound):
        fleet.store.act("ro-nope", "pause", "ada")
    start(fleet)  # the old one holds its targets no more


def test_the_event_record_is_append_only(fleet: RolloutService, cloud_engine: Engine) -> None:
    start(fleet)
    with pytest.raises(Exception, match="append-only"):
        with cloud_engine.begin() as conn:
            conn.execute(text("UPDATE rollout_events SET kind = 'promoted'"))
    with pytest.raises(Exception, match="append-only"):
        with cloud_engine.begin() as conn:
            conn.execute(text("DELETE FROM rollout_events"))
    with cloud_engine.connect() as conn:
        assert conn.execute(select(rollout_events.c.kind)).scalars().all() == ["created"]


def test_reports_fill_what_ran_where_and_keep_the_heartbeat_slots(fleet: RolloutService, clock: Clock) -> None:
    fleet.registry.record_activity("j1", {"cam-gate": {"name": CAMERA, "version": "1.0.0"}}, clock.now)
    clock.now += 10
    switched = clock.now - 5
    send(fleet, "j1", report({"camera": slot("active", "1.1.0", since_ts=switched),
                              "risk": slot("idle", None)}))
    latest = fleet.registry.activity.latest("j1")
    assert latest["cam-gate"].version == "1.0.0" and latest["camera"].version == "1.1.0"
    assert latest["camera"].from_ts == switched and "risk" not in latest
    assert [m.version for m in fleet.registry.running_at("j1", switched - 1)] == ["1.0.0"]
    assert {m.slot: m.version for m in fleet.registry.running_at("j1", switched)} == {"cam-gate": "1.0.0",
                                                                                        "camera": "1.1.0"}
    send(fleet, "j1", report({"camera": slot("active", "1.1.0")}))
    assert latest["camera"].seq == fleet.registry.activity.latest("j1")["camera"].seq  # unchanged: no new row
    assert fleet.reports.latest("j1")[0].slots["camera"].active.version == "1.1.0"  # type: ignore[index,union-attr]

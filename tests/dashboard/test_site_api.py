"""Site plan, workers and cameras: the views on an unstarted daemon (fake clock, real fusion and
alarm engine), trend rings on their own, then the endpoints on the real daemon with the simulator."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_runtime.alarms.model import Actor, AlarmKind, Channel, ConditionUpdate, Notify, Priority
from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.keys import API
from edge_runtime.dashboard.site_view import (
    centroid,
    site_plan,
    worker_card,
    worker_list,
)
from edge_runtime.dashboard.trends import TrendRing, WorkerTrends
from edge_runtime.demo import demo_site_data
from edge_runtime.fusion.conditions import device_subject, worker_subject, zone_subject
from firmware_bridge.readings import Contact, Gas, GasSample, HeartRate, Observation
from models.camera.scene import PersonSpec
from tests.broker import Mosquitto
from tests.dashboard.harness import (
    EventStream,
    FakeClock,
    T0,
    dashboard_site,
    eventually_async,
    signed_in,
    with_accounts,
)
from tests.e2e.harness import SimSite
from tests.vision_pipeline.conftest import DEFAULT_MODEL, render_video


@pytest.fixture
def daemon() -> EdgeDaemon:
    """The demo site's daemon, not started: fusion and the alarm engine run, nothing else does."""
    return EdgeDaemon(parse_config(demo_site_data()), clock=FakeClock())


def raise_(daemon: EdgeDaemon, update: ConditionUpdate) -> str:
    daemon.alarms.update(update)
    alarm = daemon.alarms.by_key(update.key)
    assert alarm is not None
    return alarm.alarm_id


# -- trends ---------------------------------------------------------------------------------------

def test_trend_ring_keeps_mean_min_max_per_interval_and_only_the_window() -> None:
    ring = TrendRing(bucket_s=10, window_s=60)
    for ts, value in ((T0, 80), (T0 + 3, 100), (T0 + 9.9, 90), (T0 + 10, 70), (T0 + 35, 60)):
        ring.add(ts, value)
    points = ring.points(T0 + 40)
    assert [(p.ts - T0, p.value, p.min, p.max) for p in points] == [(0, 90, 80, 100), (10, 70, 70, 70), (30, 60, 60, 60)]
    ring.add(T0 + 65, 50)  # six slots: this reuses the slot of T0
    assert [p.ts - T0 for p in ring.points(T0 + 65)] == [10, 30, 60]
    ring.add(T0 + 1, 999)  # older than the window: dropped
    assert [p.ts - T0 for p in ring.points(T0 + 65)] == [10, 30, 60]
    assert ring.points(T0 + 1000) == []


def test_worker_trends_follow_the_worker_devices(daemon: EdgeDaemon) -> None:
    trends = WorkerTrends(daemon.config)
    w03 = daemon.config.worker("w03")
    assert w03 is not None and w03.wearable and w03.detector
    trends.on_observation(Observation(w03.wearable, HeartRate(bpm=88, contact=Contact.DETECTED), T0))
    trends.on_observation(Observation(w03.wearable, HeartRate(bpm=0, contact=Contact.NOT_DETECTED), T0 + 1))
    trends.on_observation(Observation(w03.detector, GasSample(Gas.H2S, 4.0, "ppm"), T0))
    trends.on_observation(Observation(w03.detector, GasSample(Gas.CO, 9.0, "ppm", fault="sensor_fault"), T0))
    trends.on_observation(Observation("unknown-device", GasSample(Gas.H2S, 50.0, "ppm"), T0))
    assert [p.value for p in trends.hr("w03", T0 + 5)] == [88]
    assert {gas: [p.value for p in pts] for gas, pts in trends.gas("w03", T0 + 5).items()} == {"H2S": [4.0]}
    assert trends.hr("w01", T0) == [] and trends.gas("w01", T0) == {}


# -- views ----------------------------------------------------------------------------------------

def test_site_plan_has_zones_fixed_points_and_padded_bounds(daemon: EdgeDaemon) -> None:
    plan = site_plan(daemon, daemon.config.dashboard)
    assert plan.site_id == "demo-site" and plan.timezone == daemon.config.dashboard.timezone
    assert [z.id for z in plan.zones] == ["yard", "tank-2", "elec-room"]
    assert not any(z.siren_on or z.evacuating or z.alarm_priority for z in plan.zones)
    kinds = {(p.kind, p.id) for p in plan.points}
    fixed = {d.id for d in daemon.config.detectors if d.kind == "fixed"}
    assert {i for k, i in kinds if k == "detector"} == fixed
    assert {i for k, i in kinds if k == "siren"} == {z.id for z in daemon.config.zones if z.siren}
    assert ("equipment", "crane-1") in kinds
    tank_head = next(p for p in plan.points if p.id == "fd-tank2-a")
    assert (tank_head.x, tank_head.y) == pytest.approx((27.0, 22.0)) and tank_head.zone == "tank-2"
    min_x, min_y, max_x, max_y = plan.bounds
    xs, ys = zip(*(xy for z in daemon.config.zones for xy in z.polygon))
    assert min_x < min(xs) and min_y < min(ys) and max_x > max(xs) and max_y > max(ys)


def test_centroid_of_an_l_shape_and_a_degenerate_polygon() -> None:
    assert centroid(((0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2))) == pytest.approx((5 / 6, 5 / 6))
    assert centroid(((0, 0), (1, 1), (2, 2))) == pytest.approx((1, 1))


def test_zone_alarms_show_siren_evacuation_and_priority(daemon: EdgeDaemon) -> None:
    tank = zone_subject("tank-2")
    raise_(daemon, ConditionUpdate(tank, "zone_gas:H2S", AlarmKind.ZONE_GAS, True, Priority.HIGH, "H2S", T0,
                                   notify=Notify(sirens=("tank-2",)), zone="tank-2"))
    evac = raise_(daemon, ConditionUpdate(tank, "evacuate", AlarmKind.ZONE_EVACUATE, True, Priority.CRITICAL,
                                          "evacuate", T0, notify=Notify(sirens=("tank-2",)), zone="tank-2"))
    zones = {z.id: z for z in site_plan(daemon, daemon.config.dashboard).zones}
    assert zones["tank-2"].siren_on and zones["tank-2"].evacuating and zones["tank-2"].alarm_priority == "critical"
    assert not zones["yard"].siren_on and zones["yard"].alarm_priority is None
    sam = Actor(Channel.DASHBOARD, "sam", may_label=True)
    daemon.alarms.mute(evac, sam)
    daemon.alarms.mute(daemon.alarms.by_key((tank, "zone_gas:H2S")).alarm_id, sam)  # type: ignore[union-attr]
    assert not next(z for z in site_plan(daemon, daemon.config.dashboard).zones if z.id == "tank-2").siren_on


def test_workers_carry_their_own_and_their_devices_alarms_and_gas_limits(daemon: EdgeDaemon) -> None:
    gas_alarm = raise_(daemon, ConditionUpdate(worker_subject("w03"), "gas:H2S", AlarmKind.GAS_LOW, True,
                                               Priority.MEDIUM, "H2S low", T0, value=12, threshold=10))
    fault = raise_(daemon, ConditionUpdate(device_subject("gps-03"), "battery", AlarmKind.LOW_BATTERY,
                                           True, Priority.HIGH, "battery low", T0))
    daemon.fusion.on_observation(Observation("pd-03", GasSample(Gas.H2S, 12.0, "ppm"), T0))
    workers = {w.id: w for w in worker_list(daemon).workers}
    assert list(workers) == [w.id for w in daemon.config.workers]
    w03 = workers["w03"]
    assert set(w03.alarm_ids) == {gas_alarm, fault} and w03.alarm_priority == "high"
    h2s = next(g for g in w03.gas if g.gas == "H2S")
    assert h2s.value == 12.0 and h2s.unit == "ppm"
    limits = daemon.config.gas.set_points[Gas.H2S]
    assert (h2s.stel.limit, h2s.twa.limit) == (limits.stel, limits.twa) and h2s.stel.value == 0
    assert workers["w01"].alarm_ids == [] and workers["w01"].position is None
    with pytest.raises(KeyError):
        worker_card(daemon, "nobody", WorkerTrends(daemon.config))


# -- over HTTP, on the running daemon -------------------------------------------------------------

async def test_site_workers_and_cards_over_http(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "demo.yaml", play=True) as (_site, daemon, url):
        async with signed_in(url, "vera") as client:
            status, plan = await client.get(f"{API}/site")
            assert status == 200 and {z["id"] for z in plan["zones"]} == {"yard", "tank-2", "elec-room"}
            assert {p["kind"] for p in plan["points"]} == {"detector", "siren", "equipment"}

            async def card_with_history() -> dict | None:
                status, card = await client.get(f"{API}/workers/w03")
                assert status == 200
                trends = len(card["hr_trend"]) >= 2 and len(card["gas_trend"].get("H2S", [])) >= 2
                # two trend intervals can close within a second of the start: wait for the zone too
                return card if trends and "tank-2" in card["zones"] else None  # entered once its dwell passed

            card = await eventually_async(card_with_history, 30, "two trend intervals, and w03 in tank-2")
            assert card["id"] == "w03" and card["hr_trend"][0]["ts"] < card["hr_trend"][-1]["ts"]

            status, body = await client.get(f"{API}/workers")
            assert status == 200 and [w["id"] for w in body["workers"]] == [w.id for w in daemon.config.workers]
            w03 = next(w for w in body["workers"] if w["id"] == "w03")
            assert w03["position"] and not w03["position"]["stale"] and w03["hr"]["valid"] and w03["battery"]
            assert {g["gas"] for g in w03["gas"]} >= {"O2", "CO", "H2S"}
            h2s = next(g for g in w03["gas"] if g["gas"] == "H2S")
            assert h2s["stel"]["limit"] == daemon.config.gas.set_points[Gas.H2S].stel
            assert (await client.get(f"{API}/workers/nobody"))[0] == 404

            assert await client.get(f"{API}/cameras") == (200, {"cameras": []})
            status, error = await client.get(f"{API}/cameras/cam-1/frame.jpg")
            assert status == 404 and "unknown camera" in error["error"]


async def test_a_worker_whose_gps_lost_its_fix_is_shown_stale(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "gps_loss.yaml", play=True) as (_site, daemon, url):
        async with signed_in(url, "vera") as client:
            async def w03(stale: bool) -> dict | None:
                _, body = await client.get(f"{API}/workers")
                worker = next(w for w in body["workers"] if w["id"] == "w03")
                return worker if worker["position"] and worker["position"]["stale"] is stale else None

            fresh = await eventually_async(lambda: w03(False), 10, "w03 placed")
            stale = await eventually_async(lambda: w03(True), 20, "w03's position going stale")
            assert stale["position"]["age_s"] > daemon.config.positions.stale_after_s
            assert stale["position"]["ts"] >= fresh["position"]["ts"]


@asynccontextmanager
async def camera_site(tmp: Path, mqtt_port: int) -> AsyncIterator[tuple[EdgeDaemon, str]]:
    """The demo site with two cameras running the shipped model: one on a looping video, one whose file is missing."""
    if not (DEFAULT_MODEL / "manifest.json").is_file():
        pytest.skip("models/camera/default is not there: the camera endpoints are tested on the real model")
    video, _ = render_video(tmp / "cam.avi", [PersonSpec(x=320, y=400, height=220)], frames=10, fps=10)
    site = SimSite(tmp, mqtt_port, "h2s_leak.yaml")
    common = {"fps": 5, "model": str(DEFAULT_MODEL), "threads": 1}
    site.base = {**site.base, "vision": {"restart_initial_s": 0.2, "snapshot_interval_s": 0}, "cameras": [
        {"id": "cam-gate", "name": "Gate", "source": str(video), "loop": True, "position": [5, -45], **common},
        {"id": "cam-down", "source": str(tmp / "missing.avi"), **common},
    ]}
    daemon = EdgeDaemon(with_accounts(await site.start()))
    await daemon.start()
    try:
        assert daemon.http.url is not None
        yield daemon, daemon.http.url
    finally:
        await daemon.stop()
        await site.stop()


@pytest.mark.slow
async def test_cameras_frames_live_events_and_metrics(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with camera_site(tmp_path, mosquitto.port) as (_daemon, url), signed_in(url, "vera") as client:
        async def cameras_settled() -> dict | None:
            _, body = await client.get(f"{API}/cameras")
            cams = {c["id"]: c for c in body["cameras"]}
            gate, down = cams["cam-gate"], cams["cam-down"]
            return cams if gate["online"] and gate["frames"] > 0 and gate["frame_ts"] and down["reason"] else None

        cams = await eventually_async(cameras_settled, 60, "the gate camera running, the other one offline")
        assert cams["cam-gate"]["model"] and cams["cam-gate"]["backend"] and cams["cam-gate"]["name"] == "Gate"
        assert cams["cam-down"]["online"] is False

        async with client.session.get(f"{url}{API}/cameras/cam-gate/frame.jpg") as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            assert response.headers["Cache-Control"] == "no-store"
            assert (await response.read())[:2] == b"\xff\xd8"
        status, error = await client.get(f"{API}/cameras/cam-down/frame.jpg")
        assert status == 503 and "offline" in error["error"]

        _, plan = await client.get(f"{API}/site")
        cameras = [p for p in plan["points"] if p["kind"] == "camera"]
        assert cameras == [{"id": "cam-gate", "name": "Gate", "kind": "camera", "x": 5.0, "y": -45.0,
                            "zone": None, "online": True}]

        async with client.session.get(f"{url}{API}/events") as response:
            event = await EventStream(response).until(lambda e: e.name == "camera" and e.data["id"] == "cam-gate", 5)
            assert event.data["online"] is True and event.data["frame_ts"] > 0

        _, text = await client.get("/metrics")
        samples = {(s.name, s.labels.get("camera")): s.value
                   for f in text_string_to_metric_families(text.decode()) for s in f.samples}
        assert samples[("siteguard_camera_frames_total", "cam-gate")] > 0
        assert samples[("siteguard_camera_online", "cam-gate")] == 1 and samples[("siteguard_camera_online", "cam-down")] == 0
        assert samples[("siteguard_camera_inference_fps", "cam-gate")] > 0

"""The simulated world: deterministic for a seed, and physically what the scenario says."""

from __future__ import annotations

import math
from typing import Any

import pytest

from edge_runtime.config import SiteConfig
from edge_runtime.geometry import LocalFrame
from edge_runtime.sim.scenario import Scenario, parse_scenario
from edge_runtime.sim.world import World
from firmware_bridge.readings import Contact, Gas


def _world(site: SiteConfig, *events: dict[str, Any], seed: int = 0, **top: Any) -> World:
    scenario = parse_scenario({"name": "t", "duration_s": 120, "events": list(events), **top}, site)
    return World(site, scenario, seed)


def _sample(world: World, times: list[float]) -> list[object]:
    out: list[object] = []
    for t in times:
        out += [world.gps("w01", t), world.accel("w08", t), world.heart_rate("w05", t), world.battery("w11", t)]
        out += [world.gas("pd-04", t), world.gas("fd-tank2-a", t)]
    return out


def test_same_seed_same_world_in_any_query_order(demo_site: SiteConfig, demo_scenario: Scenario) -> None:
    times = [i * 0.37 for i in range(120)]
    a = _sample(World(demo_site, demo_scenario, seed=7), times)
    b = _sample(World(demo_site, demo_scenario, seed=7), list(reversed(times)))
    assert a == [x for group in reversed([b[i : i + 6] for i in range(0, len(b), 6)]) for x in group]
    assert a != _sample(World(demo_site, demo_scenario, seed=8), times)


def test_zone_gas_ramps_and_portables_see_the_zone_their_worker_is_in(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {"at": 0, "worker": "w03", "position": "tank-2"},
        {"at": 0, "worker": "w02", "position": [17, 22]},
        {"at": 10, "zone": "tank-2", "gas": {"H2S": {"to": 25, "over_s": 10}}},
    )
    assert w.gas("fd-tank2-a", 9.0)[Gas.H2S] < 1
    assert w.gas("fd-tank2-a", 15.0)[Gas.H2S] == pytest.approx(12.5, abs=1)
    assert w.gas("fd-tank2-b", 30.0)[Gas.H2S] == pytest.approx(25, abs=1)
    assert w.gas("pd-03", 30.0)[Gas.H2S] == pytest.approx(25, abs=1)  # inside the tank
    assert w.gas("pd-02", 30.0)[Gas.H2S] < 1  # the attendant outside
    assert w.gas("pd-02", 30.0)[Gas.O2] == pytest.approx(20.9, abs=0.2)
    assert w.gas("fd-yard-1", 30.0)[Gas.CO] < 1  # the yard around the tank is clean


def test_sources_next_to_a_worker_and_leaks_at_a_detector_add_to_the_zone(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {"at": 0, "worker": "w06", "gas": {"CO": {"to": 45, "over_s": 5}}},
        {"at": 0, "detector": "fd-yard-1", "gas": {"LEL": {"to": 30}}},
        background={"CO": 2},
    )
    assert w.gas("pd-06", 10)[Gas.CO] == pytest.approx(47, abs=1)
    assert w.gas("pd-07", 10)[Gas.CO] == pytest.approx(2, abs=1)
    assert w.gas("fd-yard-1", 10)[Gas.LEL] == pytest.approx(30, abs=1)


def test_walks_follow_waypoints_at_pace_and_still_stops_them(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {
            "at": 0,
            "worker": "w01",
            "position": [0, 0],
            "walk": {"to": [[10, 0], [10, 10], [0, 10]], "speed_mps": 2, "loop": True},
        },
        {"at": 0, "worker": "w02", "position": [0, 0], "walk": {"to": ["crane-1"]}},
        {"at": 30, "worker": "w01", "motion": "still"},
    )
    assert w.position("w01", 2.5) == pytest.approx((5, 0))
    assert w.position("w01", 7.5) == pytest.approx((10, 5))
    assert w.position("w01", 15 + math.sqrt(50) / 2) == pytest.approx((5, 5))  # back to the first waypoint
    assert w.position("w01", 15 + math.sqrt(200) / 2 + 2.5) == pytest.approx((10, 5))  # and round again
    assert w.position("w01", 30) == w.position("w01", 60)
    assert w.gps("w01", 2.5).speed_mps == pytest.approx(2) and w.gps("w01", 2.5).course_deg == pytest.approx(90)
    assert w.gps("w01", 40).speed_mps == 0
    assert w.position("w02", 100) == pytest.approx((50, -20))  # arrived at the crane and stays


def test_gps_positions_are_near_the_truth_and_lost_fixes_are_flagged(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site, {"at": 0, "worker": "w03", "position": [30, -10]}, {"at": 5, "worker": "w03", "gps": "lost_fix"}
    )
    frame = LocalFrame(demo_site.site.origin_lat, demo_site.site.origin_lon)
    fix = w.gps("w03", 1)
    assert fix.fix and fix.satellites >= 4 and fix.hdop < 2
    assert math.dist(frame.to_xy(fix.lat, fix.lon), (30, -10)) < 2
    lost = w.gps("w03", 6)
    assert not lost.fix and lost.satellites < 3


def test_fall_is_free_fall_then_impact_then_lying_still(demo_site: SiteConfig) -> None:
    fall = demo_site.man_down.fall
    w = _world(demo_site, {"at": 10, "worker": "w08", "motion": "fall"})
    g = [w.accel("w08", 10 + k / 20).magnitude_g for k in range(40)]
    assert sum(m < fall.free_fall_g for m in g[:10]) >= 5
    assert max(g[:20]) > fall.impact_g
    assert all(abs(m - 1) < demo_site.man_down.motion_threshold_g for m in g[20:])


def test_moving_workers_move_the_accelerometer_and_still_ones_do_not(demo_site: SiteConfig) -> None:
    threshold = demo_site.man_down.motion_threshold_g
    w = _world(
        demo_site,
        {"at": 0, "worker": "w01", "walk": {"to": [[60, 0]]}},
        {"at": 0, "worker": "w07", "motion": "still"},
    )
    for worker, moving in (("w01", True), ("w02", True), ("w07", False)):  # w02 works in place
        deviations = [abs(w.accel(worker, k / 20).magnitude_g - 1) for k in range(200)]
        assert (sum(d > threshold for d in deviations) > 20) is moving, worker


def test_heart_rate_ramps_and_contact_loss_reports_no_pulse(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {"at": 5, "worker": "w05", "hr": {"to": 150, "over_s": 5}},
        {"at": 20, "worker": "w05", "hr_contact": "lost"},
        {"at": 30, "worker": "w05", "hr_contact": "restored"},
    )
    assert 60 < w.heart_rate("w05", 1).bpm < 100
    hr = w.heart_rate("w05", 15)
    assert hr.bpm == pytest.approx(150, abs=6) and hr.contact is Contact.DETECTED and hr.rr_s
    lost = w.heart_rate("w05", 25)
    assert lost.bpm == 0 and lost.contact is Contact.NOT_DETECTED
    assert w.heart_rate("w05", 31).bpm == pytest.approx(150, abs=6)


def test_battery_drains_and_ramps(demo_site: SiteConfig) -> None:
    w = _world(demo_site, {"at": 100, "worker": "w11", "battery": {"to": 8, "over_s": 5}})
    start = w.battery("w11", 0)
    assert 55 <= start <= 100
    assert w.battery("w11", 90) < start  # drains a little
    assert w.battery("w11", 110) == pytest.approx(8, abs=0.1)


def test_buttons_and_check_ins(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {"at": 3, "worker": "w09", "panic": "press"},
        {"at": 9, "worker": "w09", "panic": "cancel"},
        {"at": 0, "worker": "w11", "check_in": {"every_s": 8}},
        {"at": 20, "worker": "w11", "check_in": "stop"},
        {"at": 0, "worker": "w12", "check_in": "stop"},
        {"at": 5, "worker": "w12", "check_in": "now"},
        {"at": 10, "worker": "w09", "wearable": "offline"},
    )
    assert [w.panic("w09", t) for t in (2, 3, 8.9, 9)] == [False, True, True, False]
    assert [t for t in range(40) if w.checked_in("w11", t - 1, t)] == [0, 8, 16]
    assert [t for t in range(40) if w.checked_in("w12", t - 1, t)] == [5]
    assert not any(w.checked_in("w09", t - 1, t) for t in range(40))
    assert w.wearable_online("w09", 9.9) and not w.wearable_online("w09", 10)


def test_lone_workers_check_in_on_time_unless_told_otherwise(demo_site: SiteConfig) -> None:
    w = _world(demo_site)
    half = round(demo_site.check_in.interval_s / 2)
    assert [t for t in range(45) if w.checked_in("w12", t - 1, t)] == [0, half, 2 * half, 3 * half, 4 * half]  # 0..40
    assert not any(w.checked_in("w01", t - 1, t) for t in range(45))  # not a lone worker


def test_detector_faults_and_links(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site,
        {"at": 2, "detector": "fd-elec-1", "fault": "sensor_fault"},
        {"at": 4, "detector": "fd-elec-1", "fault": "cleared", "link": "offline"},
    )
    assert [w.detector_fault("fd-elec-1", t) for t in (1, 3, 5)] == [None, "sensor_fault", None]
    assert w.detector_online("fd-elec-1", 3) and not w.detector_online("fd-elec-1", 5)


def test_zone_of_is_the_innermost_zone(demo_site: SiteConfig) -> None:
    w = _world(
        demo_site, {"at": 0, "worker": "w03", "position": "tank-2"}, {"at": 0, "worker": "w04", "position": [0, 0]}
    )
    assert w.zone_of("w03", 1) == "tank-2"
    assert w.zone_of("w04", 1) == "yard"

"""Scenario files: the shipped ones load, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_runtime.config import SiteConfig
from edge_runtime.sim.scenario import (
    DetectorEvent,
    ScenarioError,
    WorkerEvent,
    ZoneEvent,
    load_scenario,
    parse_scenario,
    shipped_scenario,
)

SHIPPED = ("demo.yaml", "h2s_leak.yaml", "man_down.yaml", "gps_loss.yaml")


def _scenario(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "t", "duration_s": 60, "events": list(events), **top}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_against_the_demo_site(name: str, demo_site: SiteConfig) -> None:
    scenario = load_scenario(shipped_scenario(name), demo_site)
    assert scenario.events
    assert [e.at for e in scenario.in_order] == sorted(e.at for e in scenario.events)


def test_the_format_of_the_brief_parses_into_typed_events_in_time_order() -> None:
    scenario = parse_scenario(
        _scenario(
            {"at": 30, "zone": "tank-2", "gas": {"H2S": {"to": 25, "over_s": 10}}},
            {"at": 60, "worker": "w07", "motion": "still"},
            {"at": 20, "worker": "w03", "gps": "lost_fix"},
        )
    )
    assert [e.at for e in scenario.events] == [30, 60, 20]  # as written, so errors name the right entry
    first, second, third = scenario.in_order
    assert isinstance(first, WorkerEvent) and first.gps == "lost_fix" and first.target == "worker:w03"
    assert isinstance(second, ZoneEvent) and second.actions == {"gas": {"H2S": {"to": 25.0, "over_s": 10.0}}}
    assert isinstance(third, WorkerEvent) and third.motion == "still"


def test_detector_events_and_periodic_check_ins_parse() -> None:
    scenario = parse_scenario(
        _scenario(
            {"at": 1, "detector": "fd-yard-1", "fault": "sensor_fault", "link": "offline"},
            {"at": 2, "worker": "w11", "check_in": {"every_s": 8}},
        )
    )
    det, worker = scenario.events
    assert isinstance(det, DetectorEvent) and det.fault == "sensor_fault" and det.link == "offline"
    assert isinstance(worker, WorkerEvent) and worker.check_in is not None and worker.check_in.every_s == 8  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        (_scenario({"at": 1, "worker": "w1", "zone": "z", "gas": {}}), "events.0", "exactly one of"),
        (_scenario({"at": 1, "gas": {"CO": {"to": 1}}}), "events.0", "exactly one of"),
        (_scenario({"at": 1, "worker": "w1"}), "events.0", "at least one action"),
        (_scenario({"at": 1, "worker": "w1", "motoin": "still"}), "events.0.motoin", "Extra inputs"),
        (_scenario({"at": 1, "worker": "w1", "motion": "asleep"}), "events.0.motion", "'moving', 'still' or 'fall'"),
        (_scenario({"at": 1, "worker": "w1", "hr": {"to": "fast"}}), "events.0.hr.to", "valid number"),
        (_scenario({"at": 1, "worker": "w1", "hr": {"to": 90, "over_s": -1}}), "events.0.hr.over_s", "greater than"),
        (_scenario({"at": 1, "zone": "z", "gas": {"XYZ": {"to": 1}}}), "events.0.gas.XYZ.[key]", "Input should be"),
        (_scenario({"at": 1, "zone": "z", "gas": {}}), "events.0.gas", "at least 1"),
        (_scenario({"at": -1, "zone": "z", "gas": {"CO": {"to": 1}}}), "events.0.at", "greater than or equal"),
        (_scenario({"at": 1, "worker": "w", "walk": {"to": ["a"]}, "motion": "fall"}), "events.0", "cannot walk"),
        (_scenario({"at": 1, "worker": "w", "check_in": "later"}), "events.0.check_in", "'now' or 'stop'"),
        (_scenario({"at": 1, "worker": "w", "position": [1]}), "events.0.position.1", "Field required"),
        (_scenario({"at": 90, "worker": "w", "panic": "press"}), "<root>", "events.0.at: after duration_s"),
        ({"name": "t", "events": []}, "duration_s", "Field required"),
        (_scenario(extra=1), "extra", "Extra inputs"),
    ],
)
def test_format_errors_name_the_key(data: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert any(k == key and message in m for k, m in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    ("event", "key", "message"),
    [
        ({"at": 1, "worker": "w99", "panic": "press"}, "events.0.worker", "unknown worker 'w99'"),
        ({"at": 1, "zone": "tank-9", "gas": {"CO": {"to": 1}}}, "events.0.zone", "unknown zone"),
        ({"at": 1, "detector": "fd-9", "link": "offline"}, "events.0.detector", "unknown detector"),
        ({"at": 1, "detector": "pd-01", "fault": "sensor_fault"}, "events.0.fault", "only fixed"),
        ({"at": 1, "detector": "fd-yard-1", "fault": "on_fire"}, "events.0.fault", "unknown fault"),
        ({"at": 1, "detector": "fd-yard-1", "gas": {"H2S": {"to": 5}}}, "events.0.gas.H2S", "does not measure"),
        ({"at": 1, "worker": "w01", "walk": {"to": ["canteen"]}}, "events.0.walk.to.0", "unknown place"),
        ({"at": 1, "worker": "w01", "position": "nowhere"}, "events.0.position", "unknown place"),
    ],
)
def test_site_cross_references_are_checked(
    event: dict[str, Any], key: str, message: str, demo_site: SiteConfig
) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_scenario(event), demo_site)
    assert any(k == key and message in m for k, m in err.value.problems), err.value.problems


def test_actions_need_the_workers_devices(demo_site: SiteConfig) -> None:
    bare = demo_site.model_copy(
        update={"workers": (demo_site.workers[0].model_copy(update={"gps": None, "wearable": None}),)}
    )
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_scenario({"at": 1, "worker": "w01", "gps": "lost_fix", "panic": "press"}), bare)
    assert ("events.0.gps", "worker 'w01' has no gps") in err.value.problems
    assert ("events.0.panic", "worker 'w01' has no wearable") in err.value.problems


def test_wiring_names_known_devices(demo_site: SiteConfig) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_scenario(wiring={"direct_nmea": ["gps-99"], "direct_winsen": ["fd-yard-1"]}), demo_site)
    assert {k for k, _ in err.value.problems} == {"wiring.direct_nmea.0", "wiring.direct_winsen.0"}


@pytest.mark.parametrize(
    ("text", "key"),
    [("name: [unclosed", "<yaml>"), ("- just\n- a list\n", "<root>"), (None, "<file>")],
)
def test_unreadable_files_are_scenario_errors(tmp_path: Path, text: str | None, key: str) -> None:
    path = tmp_path / "s.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.problems[0][0] == key


def test_errors_name_the_entry_as_written_not_in_time_order(demo_site: SiteConfig) -> None:
    data = _scenario({"at": 50, "worker": "w01", "panic": "press"}, {"at": 10, "worker": "w99", "panic": "press"})
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, demo_site)
    assert err.value.problems == [("events.1.worker", "unknown worker 'w99'")]

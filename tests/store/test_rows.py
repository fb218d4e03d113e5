"""Row encoding: compact readings, alarms that round-trip exactly."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge_runtime.alarms.model import AlarmState, Channel, TransitionCause, Verdict
from edge_runtime.store.rows import ALARM_COLUMNS, alarm_from_row, alarm_row, reading_row, transition_row, verdict_row
from firmware_bridge.readings import (
    Battery,
    CheckIn,
    Contact,
    DetectorStatus,
    Gas,
    GasSample,
    GpsFix,
    HeartRate,
    Motion,
    Observation,
    PanicButton,
)

from .conftest import make_alarm, transition


def row(reading: Any, **extra: object) -> tuple[Any, ...]:
    return reading_row(Observation("dev", reading, 5.0, extra))[1:]


def test_each_reading_kind_has_its_compact_row() -> None:
    assert row(GasSample(Gas.CO, 35.0, "ppm", full_range=500.0)) == ("gas:CO", 5.0, 35.0, 500.0, None, '{"unit":"ppm"}')
    assert row(GasSample(Gas.LEL, 100.0, "%LEL", over_range=True, fault="sensor_fault"))[-1] == (
        '{"unit":"%LEL","over_range":true,"fault":"sensor_fault"}'
    )
    assert row(HeartRate(72)) == ("hr", 5.0, 72, None, None, None)
    assert json.loads(row(HeartRate(72, Contact.DETECTED, 12, (0.8, 0.81)))[-1]) == {
        "contact": "detected",
        "rr_s": [0.8, 0.81],
    }
    assert row(Motion(0.1, 0.2, 0.9)) == ("motion", 5.0, 0.1, 0.2, 0.9, None)
    assert row(PanicButton(True)) == ("panic", 5.0, 1.0, None, None, None)
    assert row(CheckIn()) == ("check_in", 5.0, None, None, None, None)
    assert row(Battery(9.5)) == ("battery", 5.0, 9.5, None, None, None)
    assert row(DetectorStatus(100.0, 200.0)) == ("detector", 5.0, 100.0, 200.0, None, None)
    gps = row(GpsFix("GP", "GGA", True, lat=51.5, lon=-0.1, hdop=0.8, satellites=9))
    assert gps[:5] == ("gps", 5.0, 51.5, -0.1, 0.8)
    assert json.loads(gps[-1]) == {"talker": "GP", "sentence": "GGA", "fix_valid": True, "satellites": 9}


def test_observation_extra_and_unknown_readings_are_kept() -> None:
    assert json.loads(row(GasSample(Gas.O2, 20.9, "%vol"), port="/dev/ttyUSB0")[-1]) == {
        "unit": "%vol",
        "extra": {"port": "/dev/ttyUSB0"},
    }

    @dataclass(frozen=True)
    class SkinTemp:
        celsius: float

    assert row(SkinTemp(34.2)) == ("skintemp", 5.0, None, None, None, '{"celsius":34.2}')


def test_alarm_round_trips_through_its_row() -> None:
    alarm = make_alarm(verdict=Verdict.CONFIRMED, muted_until=12.0, flood_group="f1", shelved_until=99.0,
                       acked_by="ops", acked_via=Channel.MQTT, shelved_by="sam", shelved_via=Channel.DASHBOARD)
    stored = dict(zip(ALARM_COLUMNS, alarm_row(alarm), strict=True))
    assert (stored["acked_via"], stored["shelved_via"]) == ("mqtt", "dashboard")
    assert alarm_from_row(stored) == alarm


def test_only_verdict_transitions_make_labels() -> None:
    alarm = make_alarm(state=AlarmState.ACKED, verdict=Verdict.CONFIRMED)
    assert verdict_row(transition(alarm, TransitionCause.ACKNOWLEDGED)) is None
    labelled = transition(alarm, TransitionCause.VERDICT, by="sup", channel=Channel.DASHBOARD)
    row = verdict_row(labelled)
    assert row is not None and (row[1], row[2], row[-1]) == ("confirmed", "sup", "dashboard")
    unlabelled = make_alarm(state=AlarmState.ACKED)
    from_extra = transition(unlabelled, TransitionCause.VERDICT, extra={"verdict": "false_alarm"})
    assert verdict_row(from_extra)[1] == "false_alarm"  # type: ignore[index]


def test_a_transition_row_keeps_its_channel_and_an_unknown_one_stays_null() -> None:
    alarm = make_alarm(state=AlarmState.ACKED)
    assert transition_row(transition(alarm, TransitionCause.ACKNOWLEDGED, by="wb07", channel=Channel.WEARABLE))[5:] == (
        "wb07", None, None, "wearable")
    assert transition_row(transition(alarm, TransitionCause.ACKNOWLEDGED))[-1] is None

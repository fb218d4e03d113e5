"""STEL/TWA arithmetic, checked by hand against minute values."""
from __future__ import annotations

import json
from typing import Literal

import pytest

from edge_runtime.config.gas import ExposureSettings
from edge_runtime.fusion.gas_exposure import Exposure

T0 = 1_700_000_040.0  # a minute boundary


def feed_minutes(exp: Exposure, start: float, per_minute: list[list[float]]) -> float:
    """Readings spread over consecutive minutes; returns the time after the last minute."""
    t = start
    for readings in per_minute:
        for i, v in enumerate(readings):
            exp.add(t + i * 60.0 / max(len(readings), 1), v)
        t += 60.0
    exp.roll(t)
    return t


def test_minute_value_is_the_mean_of_its_readings() -> None:
    exp = Exposure(ExposureSettings())
    feed_minutes(exp, T0, [[10, 20, 30]])
    assert exp.stel == pytest.approx(20 / 15)


def test_negative_readings_count_as_zero() -> None:
    exp = Exposure(ExposureSettings())
    feed_minutes(exp, T0, [[-4, 6]])  # (0 + 6) / 2 = 3, not (−4 + 6) / 2 = 1
    assert exp.stel == pytest.approx(3 / 15)


def test_stel_over_fifteen_known_minutes() -> None:
    exp = Exposure(ExposureSettings())
    t = feed_minutes(exp, T0, [[float(m), float(m)] for m in range(1, 6)])
    assert exp.stel == pytest.approx((1 + 2 + 3 + 4 + 5) / 15)  # missing minutes count as 0
    feed_minutes(exp, t, [[float(m)] for m in range(6, 16)])
    assert exp.stel == pytest.approx(120 / 15)  # 1 + ... + 15 = 120
    feed_minutes(exp, t + 600, [[30.0]])
    assert exp.stel == pytest.approx((120 - 1 + 30) / 15)  # minute 1 slides out


def test_minutes_without_readings_count_as_zero() -> None:
    exp = Exposure(ExposureSettings())
    exp.add(T0, 15.0)
    exp.add(T0 + 4 * 60 + 1, 15.0)  # three silent minutes in between
    assert exp.stel == pytest.approx(15 / 15)
    exp.roll(T0 + 5 * 60)
    assert exp.stel == pytest.approx(30 / 15)


def test_stel_window_is_configurable() -> None:
    exp = Exposure(ExposureSettings(stel_window_min=5))
    feed_minutes(exp, T0, [[10.0]] * 7)
    assert exp.stel == pytest.approx(10.0)


def test_cumulative_twa_only_rises_within_a_shift() -> None:
    exp = Exposure(ExposureSettings(twa_mode="cumulative"))
    t = feed_minutes(exp, T0, [[40.0]] * 60)
    assert exp.twa == pytest.approx(40 * 60 / 480)  # 5.0
    feed_minutes(exp, t, [[0.0]] * 30)
    assert exp.twa == pytest.approx(5.0)


def test_moving_twa_is_the_mean_of_the_last_window() -> None:
    exp = Exposure(ExposureSettings(twa_mode="moving", twa_window_min=60))
    t = feed_minutes(exp, T0, [[40.0]] * 60)
    assert exp.twa == pytest.approx(40.0)
    feed_minutes(exp, t, [[0.0]] * 30)
    assert exp.twa == pytest.approx(40 * 30 / 60)
    assert exp.stel == 0.0


def test_a_switched_off_detector_starts_a_new_shift() -> None:
    exp = Exposure(ExposureSettings(shift_gap_min=120))
    t = feed_minutes(exp, T0, [[48.0]] * 10)
    exp.mark_stel(True, t)
    assert exp.twa == pytest.approx(1.0) and exp.stel_periods == 1
    last = t - 60  # the last reading opened the tenth minute
    exp.add(last + 119 * 60, 0.0)  # silent 119 min: same shift
    assert exp.twa == pytest.approx(1.0)
    exp.add(last + 119 * 60 + 121 * 60, 0.0)  # silent 121 min: next shift
    assert (exp.twa, exp.stel, exp.stel_periods) == (0.0, 0.0, 0)


def test_stel_periods_count_excursions() -> None:
    exp = Exposure(ExposureSettings())
    assert exp.mark_stel(True, T0) is True
    assert exp.mark_stel(True, T0 + 60) is False
    assert exp.mark_stel(False, T0 + 120) is False
    assert exp.stel_last_end == T0 + 120
    assert exp.mark_stel(True, T0 + 180) is True
    assert exp.stel_periods == 2


@pytest.mark.parametrize("mode", ["cumulative", "moving"])
def test_snapshot_restore_continues_exactly(mode: Literal["cumulative", "moving"]) -> None:
    settings = ExposureSettings(twa_mode=mode, twa_window_min=60)
    readings = [[float(m % 7), float(m % 5)] for m in range(40)]
    first = Exposure(settings)
    t = feed_minutes(first, T0, readings[:23])
    first.add(t + 1, 3.0)  # half a minute open at the snapshot
    state = json.loads(json.dumps(first.snapshot()))
    restored = Exposure.restore(settings, state)
    control = Exposure(settings)
    feed_minutes(control, T0, readings[:23])
    control.add(t + 1, 3.0)
    for ex in (restored, control):
        feed_minutes(ex, t + 30, [[2.0]])  # rest of the open minute
        feed_minutes(ex, t + 60, readings[24:])
    assert (restored.stel, restored.twa) == pytest.approx((control.stel, control.twa))
    assert restored.twa > 0 and restored.stel > 0


def test_book_reports_each_closed_minute_with_readings() -> None:
    """Closed minutes go to the store (shift reports); a gap minute without readings is not a row."""
    from edge_runtime.fusion.gas_exposure import ExposureBook
    from firmware_bridge.readings import Gas

    book = ExposureBook(ExposureSettings(), ["w1"])
    minutes: list[tuple[str, str, float, float]] = []
    book.on_minute = lambda *row: minutes.append(row)
    book.add("w1", Gas.H2S, T0 + 1, 4.0)
    book.add("w1", Gas.H2S, T0 + 31, 8.0)
    book.add("w1", Gas.H2S, T0 + 61, 2.0)  # closes the first minute by a reading
    assert minutes == [("w1", "H2S", T0, 6.0)]
    book.roll(T0 + 3 * 60 + 5)  # closes the second by the clock; the third had no reading
    assert minutes[1:] == [("w1", "H2S", T0 + 60, 2.0)]

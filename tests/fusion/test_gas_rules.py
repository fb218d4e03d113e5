"""Gas set points, faults and exposure alarms, driven through the engine."""
from __future__ import annotations

from datetime import datetime, timezone

from edge_runtime.alarms.model import AlarmKind, Priority, SubjectKind
from firmware_bridge.readings import DetectorStatus

from .support import T0, Harness, site


def ana_reports_all_gases(h: Harness, h2s: float = 0.0, co: float = 0.0) -> None:
    h.gas("pd07", "O2", 20.9)
    h.gas("pd07", "CO", co)
    h.gas("pd07", "H2S", h2s)
    h.gas("pd07", "LEL", 0.0)


def test_low_high_escalate_one_key_and_clear_past_the_deadband() -> None:
    h = Harness()
    for value in (5, 12, 12.5, 25, 26, 19.8, 19.0, 9.7, 9.0):
        h.gas("pd07", "H2S", value)
        h.advance(1)
    ups = h.of("gas:H2S", "w07")
    assert [(u.active, u.kind) for u in ups] == [
        (True, AlarmKind.GAS_LOW), (True, AlarmKind.GAS_HIGH), (True, AlarmKind.GAS_LOW), (False, AlarmKind.GAS_LOW),
    ]
    low, high, back, clear = ups
    assert low.priority is Priority.MEDIUM and high.priority is Priority.HIGH
    assert high.message == "H2S 25.0 ppm over high set point 20 ppm at worker Ana (w07)"
    assert (high.value, high.threshold, high.direction) == (25, 20, "high")
    assert high.subject.kind is SubjectKind.WORKER and high.notify.workers == ("w07",)
    assert back.value == 19.0  # 19.8 held HIGH: de-escalation waits for the 0.5 ppm deadband
    assert clear.value == 9.0 and clear.threshold == 10


def test_repeated_readings_do_not_repeat_updates() -> None:
    h = Harness()
    for _ in range(50):
        h.gas("pd07", "H2S", 25.0)
    assert len(h.of("gas:H2S")) == 1


def test_oxygen_alarms_in_both_directions() -> None:
    h = Harness()
    for value in (20.9, 19.0, 20.9, 24.0, 20.9):
        h.gas("pd07", "O2", value)
    ups = h.of("gas:O2", "w07")
    assert [(u.active, u.kind, u.direction) for u in ups] == [
        (True, AlarmKind.GAS_LOW, "low"), (False, AlarmKind.GAS_LOW, "low"),
        (True, AlarmKind.GAS_HIGH, "high"), (False, AlarmKind.GAS_HIGH, "high"),
    ]
    assert ups[0].message == "O2 19.0 %vol below low set point 19.5 %vol at worker Ana (w07)"


def test_over_range_is_a_critical_explosion_hazard() -> None:
    h = Harness()
    h.gas("pd07", "LEL", 100.0)
    u = h.last("gas:LEL", "w07")
    assert u.kind is AlarmKind.GAS_OVER_RANGE and u.priority is Priority.CRITICAL
    assert "explosion hazard" in u.message
    h.gas("pd07", "CO", 500.0, over_range=True)  # below the configured 1000 ppm, but the detector says so
    assert h.kind("gas:CO", "w07") is AlarmKind.GAS_OVER_RANGE


def test_negative_drift_beyond_half_the_low_set_point() -> None:
    h = Harness()
    h.gas("pd07", "H2S", -4.0)  # limit is -5 ppm
    assert h.of("gas_fault:H2S:drift") == []
    h.gas("pd07", "H2S", -6.0)
    u = h.last("gas_fault:H2S:drift", "pd07")
    assert u.active and u.kind is AlarmKind.GAS_DRIFT and u.subject.kind is SubjectKind.DEVICE
    assert (u.threshold, u.direction) == (-5.0, "low")
    h.gas("pd07", "H2S", 0.0)
    assert not h.active("gas_fault:H2S:drift", "pd07")
    h.gas("pd07", "O2", -20.0)  # O2 has no zero drift rule; it is a deficiency
    assert h.of("gas_fault:O2:drift") == []


def test_a_sensor_going_quiet_then_the_whole_detector() -> None:
    h = Harness()
    ana_reports_all_gases(h)
    for _ in range(35):  # H2S sensor stops, the others go on
        h.gas("pd07", "O2", 20.9)
        h.gas("pd07", "CO", 0)
        h.gas("pd07", "LEL", 0)
        h.advance(1)
    u = h.last("gas_fault:H2S:stale", "pd07")
    assert u.active and u.kind is AlarmKind.GAS_SENSOR_STALE and u.priority is Priority.MEDIUM
    h.advance(40)  # now nothing at all: one detector-wide alarm, not four
    assert not h.active("gas_fault:H2S:stale", "pd07")
    assert h.active("gas_fault:all:stale", "pd07")
    assert h.of("gas_fault:CO:stale") == []
    ana_reports_all_gases(h)
    assert not h.active("gas_fault:all:stale", "pd07")


def test_fixed_detectors_are_expected_from_start_portables_once_switched_on() -> None:
    h = Harness()
    h.advance(31)
    assert h.active("gas_fault:all:stale", "fd1") and h.active("gas_fault:all:stale", "fd2")
    assert h.of("gas_fault:all:stale", "pd07") == []


def test_h2s_over_200_ppm_may_have_poisoned_the_lel_sensor_until_bumped() -> None:
    h = Harness()
    ana_reports_all_gases(h, h2s=250.0)
    u = h.last("gas_fault:LEL:poisoned", "pd07")
    assert u.active and u.kind is AlarmKind.GAS_LEL_POISONED
    h.feed("pd07", DetectorStatus(last_bump_ts=T0 - 3600))  # an older bump does not count
    assert h.active("gas_fault:LEL:poisoned", "pd07")
    h.advance(120)
    h.feed("pd07", DetectorStatus(last_bump_ts=h.t - 10))
    assert not h.active("gas_fault:LEL:poisoned", "pd07")
    h.gas("fd2", "H2S", 300.0)  # fd2 has no LEL sensor
    assert h.of("gas_fault:LEL:poisoned", "fd2") == []


def test_bump_and_calibration_overdue() -> None:
    two_days = datetime.fromtimestamp(T0 - 2 * 86400, timezone.utc).date().isoformat()
    long_ago = datetime.fromtimestamp(T0 - 200 * 86400, timezone.utc).isoformat()
    cfg = site()
    cfg["detectors"][0].update(last_bump=two_days, last_calibration=long_ago)
    h = Harness(cfg)
    assert h.of("gas_fault:all:bump_due") == []  # switched off: not judged
    ana_reports_all_gases(h)
    assert h.kind("gas_fault:all:bump_due", "pd07") is AlarmKind.GAS_BUMP_DUE
    assert h.kind("gas_fault:all:calibration_due", "pd07") is AlarmKind.GAS_CALIBRATION_DUE
    assert h.priority("gas_fault:all:bump_due", "pd07") is Priority.LOW
    h.feed("pd07", DetectorStatus(last_bump_ts=h.t - 60, last_calibration_ts=h.t - 3600))
    assert not h.active("gas_fault:all:bump_due", "pd07")
    assert not h.active("gas_fault:all:calibration_due", "pd07")
    h.advance(86400 + 60, step=60)
    ana_reports_all_gases(h)
    assert h.active("gas_fault:all:bump_due", "pd07")  # a day later it is due again


def test_reported_faults_and_foreign_units_make_readings_unusable() -> None:
    h = Harness()
    h.gas("pd07", "CO", 500.0, fault="sensor_fault")
    assert h.of("gas:CO") == []
    u = h.last("gas_fault:CO:reported", "pd07")
    assert u.active and "sensor_fault" in u.message
    h.gas("pd07", "CO", 5.0)
    assert not h.active("gas_fault:CO:reported", "pd07")
    h.gas("pd07", "H2S", 25_000.0, unit="ppb")  # 25 ppm
    assert h.kind("gas:H2S", "w07") is AlarmKind.GAS_HIGH
    h.gas("pd07", "CO", 90.0, unit="mg/m3")
    assert h.active("gas_fault:CO:reported", "pd07")
    assert h.of("gas:CO") == []


def test_stel_alarm_after_fifteen_minutes_at_16_ppm() -> None:
    h = Harness()
    for minute in range(16):
        for _ in range(4):
            h.gas("pd07", "H2S", 16.0)
            h.advance(15, step=5)
        if minute < 14:
            assert h.of("stel:H2S") == [], minute  # 16 × 14 / 15 = 14.9 < 15
    u = h.last("stel:H2S", "w07")
    assert u.active and u.kind is AlarmKind.GAS_STEL and u.priority is Priority.HIGH
    assert 15.0 <= u.value < 16.0 and u.threshold == 15.0
    assert "STEL period 1 of at most 4" in u.message
    # raised within the fifteenth minute, as soon as its share so far (the rest of it
    # counted as 0) takes the sum past the limit — not when the minute closes
    assert T0 + 14 * 60 < u.ts < T0 + 15 * 60


def test_running_stel_raises_early_but_never_clears_early() -> None:
    cfg = site(gas={"exposure": {"stel_window_min": 5}})
    h = Harness(cfg)
    h.gas("pd07", "H2S", 0.0)
    h.advance(60 - (h.t % 60), step=5)  # start on a minute boundary
    start = h.t
    for _ in range(12):  # 150 ppm for 60 s: the limit (15 × 5 = 75 ppm·min) is passed after 30 s
        h.gas("pd07", "H2S", 150.0)
        h.advance(5, step=5)
    raised = h.last("stel:H2S", "w07")
    assert raised.active and start + 30 <= raised.ts < start + 60  # within the minute, once certain
    for _ in range(4 * 12):  # clean air for four minutes: the closed STEL is still 150/5 = 30
        h.gas("pd07", "H2S", 0.0)
        h.advance(5, step=5)
    assert h.active("stel:H2S", "w07")
    for _ in range(2 * 12):  # the excursion minute leaves the 5-minute window
        h.gas("pd07", "H2S", 0.0)
        h.advance(5, step=5)
    assert not h.active("stel:H2S", "w07")


def test_stel_excursion_too_soon_after_the_last_escalates() -> None:
    cfg = site(gas={"exposure": {"stel_window_min": 5}})
    h = Harness(cfg)

    def minutes(value: float, n: int) -> None:
        for _ in range(n):
            h.gas("pd07", "H2S", value)
            h.advance(60, step=10)

    minutes(20.0, 5)
    first = h.last("stel:H2S", "w07")
    assert first.active and first.priority is Priority.HIGH
    minutes(0.0, 5)
    assert not h.active("stel:H2S", "w07")
    minutes(20.0, 5)
    second = h.last("stel:H2S", "w07")
    assert second.active and second.priority is Priority.CRITICAL
    assert "STEL period 2" in second.message and "after the previous excursion" in second.message


def test_more_stel_periods_than_allowed_per_shift_escalates() -> None:
    cfg = site(gas={"exposure": {"stel_window_min": 5, "stel_rest_min": 0, "max_stel_periods_per_shift": 1}})
    h = Harness(cfg)
    for value in (20.0, 0.0, 20.0):
        for _ in range(5):
            h.gas("pd07", "H2S", value)
            h.advance(60, step=10)
    assert h.priority("stel:H2S", "w07") is Priority.CRITICAL


def test_twa_alarm_when_the_shift_average_reaches_the_limit() -> None:
    h = Harness(site(gas={"exposure": {"twa_window_min": 60}}))
    for minute in range(54):
        h.gas("pd08", "CO", 40.0)  # 40 × 53 / 60 = 35.3 >= 35 after 53 minutes
        h.advance(60, step=20)
        if minute < 52:
            assert h.of("twa:CO") == [], minute
    u = h.last("twa:CO", "w08")
    assert u.active and u.kind is AlarmKind.GAS_TWA and u.priority is Priority.HIGH
    assert u.value == 40.0 * 53 / 60 and u.threshold == 35.0
    assert "Ben (w08)" in u.message

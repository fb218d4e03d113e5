"""History and reports: shift windows in a real time zone (night shifts, DST), alarm history
queries and exposure minutes on a real store file, the CSV and the exposure arithmetic,
then the endpoints on the real daemon."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
    Verdict,
)
from edge_runtime.config.dashboard import DashboardSettings, Shift
from edge_runtime.config.devices import StorageSettings
from edge_runtime.config.gas import ExposureSettings, GasSetPoints
from edge_runtime.dashboard.exposure_report import MinuteValue, exposure_lines, stel_peak, twa
from edge_runtime.dashboard.history import alarm_counts, alarm_history, exposure_minutes, read, stored_alarm
from edge_runtime.dashboard.history_csv import COLUMNS, alarms_csv, csv_filename, safe_cell
from edge_runtime.dashboard.keys import API
from edge_runtime.dashboard.schemas import HistoryQuery
from edge_runtime.dashboard.shifts import ShiftCalendar, Window, WindowError
from edge_runtime.store import Store
from tests.broker import Mosquitto
from tests.dashboard.harness import dashboard_site, eventually_async, signed_in

AMS = ZoneInfo("Europe/Amsterdam")
CALENDAR = ShiftCalendar(DashboardSettings(timezone="Europe/Amsterdam", shifts=(
    Shift(name="day", start="06:00", end="18:00"), Shift(name="night", start="18:00", end="06:00"))))


def ams(*args: int) -> float:
    return datetime(*args, tzinfo=AMS).timestamp()  # type: ignore[misc]


# -- shift windows ---------------------------------------------------------------------------------

def test_a_night_shift_runs_past_midnight_and_belongs_to_the_date_it_started() -> None:
    night = CALENDAR.window("night", date(2026, 3, 2))
    assert (night.since, night.until) == (ams(2026, 3, 2, 18), ams(2026, 3, 3, 6))
    at_two = CALENDAR.current(ams(2026, 3, 3, 2))
    assert at_two == night and at_two.date == date(2026, 3, 2)
    at_ten = CALENDAR.current(ams(2026, 3, 3, 10))
    assert at_ten is not None and (at_ten.shift, at_ten.date) == ("day", date(2026, 3, 3))
    assert CALENDAR.current(ams(2026, 3, 3, 6)).shift == "day"  # type: ignore[union-attr]  # ends exclusive


def test_a_shift_without_a_date_is_the_one_running_or_else_the_last_one() -> None:
    assert CALENDAR.latest("night", ams(2026, 3, 3, 10)) == CALENDAR.window("night", date(2026, 3, 2))
    assert CALENDAR.latest("day", ams(2026, 3, 3, 5)) == CALENDAR.window("day", date(2026, 3, 2))
    assert CALENDAR.latest("day", ams(2026, 3, 3, 7)) == CALENDAR.window("day", date(2026, 3, 3))
    assert CALENDAR.resolve(ams(2026, 3, 3, 7), shift="night") == CALENDAR.window("night", date(2026, 3, 2))


def test_shift_windows_follow_daylight_saving_time() -> None:
    spring = CALENDAR.window("night", date(2026, 3, 28))  # clocks go 02:00 -> 03:00 that night
    autumn = CALENDAR.window("night", date(2026, 10, 24))  # and 03:00 -> 02:00 in October
    assert spring.until - spring.since == 11 * 3600 and autumn.until - autumn.since == 13 * 3600


def test_a_day_without_a_shift_running_has_no_current_shift() -> None:
    calendar = ShiftCalendar(DashboardSettings(timezone="UTC", shifts=(Shift(name="early", start="06:00",
                                                                              end="14:00"),)))
    assert calendar.current(datetime(2026, 3, 3, 20, tzinfo=ZoneInfo("UTC")).timestamp()) is None


def test_query_windows_and_what_is_refused() -> None:
    now = ams(2026, 3, 3, 10)
    assert CALENDAR.resolve(now) == Window(now - 86400, now)
    assert CALENDAR.resolve(now, since=now - 60) == Window(now - 60, now)
    assert CALENDAR.resolve(now, shift="day", day="2026-03-01") == CALENDAR.window("day", date(2026, 3, 1))
    refusals = {
        "unknown shift 'late'": {"shift": "late"},
        "not both": {"shift": "day", "since": now - 60},
        "date needs a shift": {"day": "2026-03-01"},
        "longer than 31 days": {"since": now - 32 * 86400},
        "empty": {"since": now, "until": now - 1},
        "not a date": {"shift": "day", "day": "2026-02-30"},
    }
    for message, kwargs in refusals.items():
        with pytest.raises(WindowError, match=message):
            CALENDAR.resolve(now, **kwargs)  # type: ignore[arg-type]


# -- alarm history on a real store file ----------------------------------------------------------------

W3 = Subject(SubjectKind.WORKER, "w03")
TANK = Subject(SubjectKind.ZONE, "tank-2")
T0 = ams(2026, 3, 3, 6)  # start of the day shift


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "siteguard.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = Store(StorageSettings(path=db_path))
    store.open()
    try:
        yield store
    finally:
        store.close()


def alarm(alarm_id: str, raised: float, subject: Subject = W3, kind: AlarmKind = AlarmKind.GAS_HIGH,
          priority: Priority = Priority.HIGH, state: AlarmState = AlarmState.UNACK, condition: str = "gas:H2S",
          message: str = "", **fields: Any) -> Alarm:
    return Alarm(alarm_id, subject, condition, kind, priority, state, message or f"{kind.value} on {subject}",
                 raised, raised, **fields)


def record(store: Store, a: Alarm, cause: TransitionCause, ts: float, by: str | None = None,
           note: str | None = None, from_state: AlarmState = AlarmState.NORMAL) -> None:
    store.record_transition(AlarmTransition(a, cause, from_state, a.state, ts, by, note))


def fill(store: Store) -> None:
    """Four alarms around the day shift of 2026-03-03 (06:00-18:00 Amsterdam)."""
    record(store, alarm("before-closed", T0 - 3600, state=AlarmState.NORMAL), TransitionCause.CLOSED, T0 - 3000)
    record(store, alarm("before-open", T0 - 600, TANK, AlarmKind.ZONE_EVACUATE, Priority.CRITICAL,
                        condition="evacuate"), TransitionCause.RAISED, T0 - 600)
    raised = alarm("in-shift", T0 + 60, message="=HYPERLINK(\"http://x\")", value=-3.5, threshold=20.0)
    record(store, raised, TransitionCause.RAISED, T0 + 60)
    acked = alarm("in-shift", T0 + 60, state=AlarmState.ACKED, acked_by="sam", acked_ts=T0 + 120,
                  verdict=Verdict.FALSE_ALARM, message=raised.message, value=-3.5, threshold=20.0)
    record(store, acked, TransitionCause.VERDICT, T0 + 120, "ada", "@SUM(1)")
    record(store, acked, TransitionCause.ACKNOWLEDGED, T0 + 120, "sam", "bump test", AlarmState.UNACK)
    record(store, alarm("after", T0 + 13 * 3600, kind=AlarmKind.GAS_LOW), TransitionCause.RAISED, T0 + 13 * 3600)
    assert store.flush(5)


async def history_of(db_path: Path, **query: Any) -> list[str]:
    window = CALENDAR.window("day", date(2026, 3, 3))
    found = await read(db_path, lambda conn: alarm_history(conn, window, HistoryQuery(**query)))
    return [a.alarm_id for a in found.alarms]


async def test_history_holds_alarms_raised_in_the_window_or_still_open_newest_first(
    store: Store, db_path: Path
) -> None:
    fill(store)
    assert await history_of(db_path) == ["in-shift", "before-open"]
    assert await history_of(db_path, kind="zone_evacuate") == ["before-open"]
    assert await history_of(db_path, priority="high") == ["in-shift"]
    assert await history_of(db_path, subject="worker:w03") == ["in-shift"]
    assert await history_of(db_path, verdict="false_alarm") == ["in-shift"]
    assert await history_of(db_path, verdict="confirmed") == []
    assert await history_of(db_path, limit=1) == ["in-shift"]
    window = CALENDAR.window("day", date(2026, 3, 3))
    found = await read(db_path, lambda conn: alarm_history(conn, window, HistoryQuery(limit=1)))
    assert [(t.cause, t.by) for t in found.transitions] == [
        ("raised", None), ("verdict", "ada"), ("acknowledged", "sam")]
    closed = await read(db_path, lambda conn: (stored_alarm(conn, "before-closed"), stored_alarm(conn, "nope")))
    assert closed[0] is not None and closed[0].state == "normal" and closed[1] is None  # GET /alarms/{id} of the past


async def test_csv_has_a_header_local_times_and_guards_against_formula_injection(store: Store, db_path: Path) -> None:
    fill(store)
    window = CALENDAR.window("day", date(2026, 3, 3))
    found = await read(db_path, lambda conn: alarm_history(conn, window, HistoryQuery()))
    rows = list(csv.DictReader(io.StringIO(alarms_csv(found, AMS))))
    assert list(rows[0]) == list(COLUMNS) and [r["alarm_id"] for r in rows] == ["in-shift", "before-open"]
    row = rows[0]
    assert row["raised"] == "2026-03-03T06:01:00+01:00" and row["acked_ts"] == "2026-03-03T06:02:00+01:00"
    assert row["message"] == "'=HYPERLINK(\"http://x\")" and row["note"] == "bump test"
    assert (row["value"], row["threshold"], row["verdict"], row["verdict_by"]) == ("-3.5", "20.0", "false_alarm", "ada")
    assert (row["acked_by"], row["priority"], row["kind"], row["shelved_by"]) == ("sam", "high", "gas_high", "")
    assert [safe_cell(v) for v in ("+1", "-x", "@a", "\tx", "ok", None, -2.0)] == [
        "'+1", "'-x", "'@a", "'\tx", "ok", "", -2.0]
    assert csv_filename("demo-site", window, AMS) == "siteguard-demo-site-alarms-2026-03-03T0600-2026-03-03T1800.csv"


# -- exposure --------------------------------------------------------------------------------------------

M0 = 1_800_000_000.0 // 60 * 60  # a minute boundary


def minutes(values: dict[int, float]) -> list[MinuteValue]:
    return [MinuteValue(M0 + 60 * m, v) for m, v in values.items()]


def test_stel_peak_is_the_highest_rolling_mean_with_missing_minutes_counted_as_zero() -> None:
    # 30 minutes at 1 ppm with five at 16 ppm (minutes 10-14): every 15-minute window holding them
    # holds ten others at 1 ppm, so the peak is (5*16 + 10*1) / 15 = 6; the first ends after minute 14
    shift = minutes({m: 16.0 if 10 <= m <= 14 else 1.0 for m in range(30)})
    peak = stel_peak(shift, 15)
    assert peak is not None and peak.value == pytest.approx(6.0) and peak.end_ts == M0 + 15 * 60
    assert twa(shift, 480) == pytest.approx((25 * 1 + 5 * 16) / 480)
    sparse = stel_peak(minutes({0: 15.0, 20: 15.0, 21: -4.0}), 15)  # gaps count 0, negatives clamp to 0
    assert sparse is not None and sparse.value == pytest.approx(1.0) and sparse.end_ts == M0 + 60
    assert stel_peak([], 15) is None


def test_exposure_lines_per_gas_with_limits_alarms_and_gases_without_data() -> None:
    rows = [{"gas": "H2S", "minute_ts": m.minute_ts, "value": m.value} for m in minutes({0: 30.0, 1: 0.0})]
    rows.append({"gas": "NH3", "minute_ts": M0, "value": 5.0})
    set_points = {"H2S": GasSetPoints(unit="ppm", low=10, high=20, twa=10, stel=15)}
    lines = exposure_lines(["O2", "H2S"], rows, {"gas:H2S": 2, "stel:H2S": 1, "gas:O2": 0, "panic": 4},
                           set_points, ExposureSettings(stel_window_min=5, twa_window_min=480))
    assert [line.gas for line in lines] == ["O2", "H2S", "NH3"]
    o2, h2s, nh3 = lines
    assert (o2.minutes, o2.twa, o2.stel_peak, o2.peak, o2.alarms) == (0, None, None, None, 0)
    assert (h2s.unit, h2s.minutes, h2s.twa_limit, h2s.stel_limit, h2s.alarms) == ("ppm", 2, 10, 15, 3)
    assert (h2s.twa, h2s.stel_peak, h2s.stel_peak_ts, h2s.peak) == (pytest.approx(30 / 480), 6.0, M0 + 60, 30.0)
    assert (nh3.unit, nh3.twa_limit, nh3.peak) == ("", None, 5.0)


async def test_exposure_minutes_and_gas_alarm_counts_are_read_for_the_worker_and_window(
    store: Store, db_path: Path
) -> None:
    for m in range(20):
        store.record_exposure_minute("w03", "H2S", M0 + 60 * m, 2.0)
    store.record_exposure_minute("w04", "H2S", M0, 99.0)
    store.record_exposure_minute("w03", "H2S", M0 + 3600, 99.0)  # after the window
    record(store, alarm("stel", M0 + 600, condition="stel:H2S", kind=AlarmKind.GAS_STEL), TransitionCause.RAISED,
           M0 + 600)
    assert store.flush(5)
    window = Window(M0, M0 + 1800)
    rows, counts = await read(db_path, lambda conn: (exposure_minutes(conn, "w03", window),
                                                               alarm_counts(conn, "worker:w03", window)))
    assert len(rows) == 20 and {r["value"] for r in rows} == {2.0} and counts == {"stel:H2S": 1}


# -- the endpoints on the real daemon -------------------------------------------------------------------

async def test_history_endpoints_on_the_running_daemon(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True,
                              timezone="Europe/Amsterdam") as (_, daemon, url):
        async with signed_in(url, "vera") as vera:
            status, shifts = await vera.get(f"{API}/shifts")
            assert status == 200 and shifts["timezone"] == "Europe/Amsterdam"
            assert shifts["current"] in ("day", "night") and [s["name"] for s in shifts["shifts"]] == ["day", "night"]

            async def evacuation_stored() -> list[dict[str, object]]:
                daemon.store.flush(5)
                status, body = await vera.get(f"{API}/history/alarms", params={"kind": "zone_evacuate"})
                assert status == 200, body
                return body["alarms"]

            (evac,) = await eventually_async(evacuation_stored, 20, "the evacuation in the history")
            status, body = await vera.get(f"{API}/history/alarms", params={"shift": shifts["current"]})
            assert status == 200 and evac["alarm_id"] in {a["alarm_id"] for a in body["alarms"]}
            assert {t["cause"] for t in body["transitions"] if t["alarm_id"] == evac["alarm_id"]} >= {"raised"}

            status, text = await vera.get(f"{API}/history/alarms.csv", params={"kind": "zone_evacuate"})
            assert status == 200
            rows = list(csv.DictReader(io.StringIO(text.decode())))
            assert [r["alarm_id"] for r in rows] == [evac["alarm_id"]]
            assert rows[0]["raised"].endswith(("+01:00", "+02:00"))  # Amsterdam time
            async with vera.session.get(f"{url}{API}/history/alarms.csv") as r:
                assert r.headers["Content-Disposition"].startswith('attachment; filename="siteguard-demo-site-alarms-')

            for params in ({"shift": "late"}, {"since": "0", "until": "9999999999"}):
                status, refused = await vera.get(f"{API}/history/alarms", params=params)
                assert status == 400, refused
            async def exposure_with_alarm() -> dict[str, Any] | None:
                daemon.store.flush(5)
                status, report = await vera.get(f"{API}/reports/exposure", params={"worker": "w03"})
                assert status == 200, report
                return report if report["gases"][2]["alarms"] else None

            report = await eventually_async(exposure_with_alarm, 15, "w03's H2S alarm in the exposure report")
            assert report["name"] == "Chloe Martin" and [g["gas"] for g in report["gases"]] == ["O2", "CO", "H2S"]
            h2s = report["gases"][2]
            assert (h2s["twa_limit"], h2s["stel_limit"], h2s["unit"]) == (1.0, 5.0, "ppm")
            assert (await vera.get(f"{API}/reports/exposure", params={"worker": "w99"}))[0] == 404

"""Window features: only [t - 300 s, t] counts, NaN where a sensor is absent, the numbers are the right ones."""
from __future__ import annotations

import numpy as np
import pytest

from models.risk.features import FEATURES, GAP_BIN_S, WINDOW_S, SensorWindow, window_features
from models.risk.synthetic import START_TS, SyntheticSite

T = START_TS + 3 * 3600.0  # 22:00 UTC
F = {name: i for i, name in enumerate(FEATURES)}


def _window(rows: list[tuple[str, float, float | None, float | None, float | None]]) -> SensorWindow:
    kind, ts, v1, v2, v3 = zip(*rows)
    return SensorWindow.from_columns(kind, ts, v1, v2, v3)


def _worker_window(site: SyntheticSite, worker: str) -> tuple[dict[str, np.ndarray], SensorWindow]:
    r = site.readings
    mine = np.isin(r["device"], site.roster[worker])
    columns = {c: r[c][mine] for c in ("kind", "ts", "v1", "v2", "v3")}
    return columns, SensorWindow.from_columns(**columns)


def test_names_are_unique_and_the_row_is_float32_of_that_length(site: SyntheticSite) -> None:
    assert len(set(FEATURES)) == len(FEATURES)
    _, window = _worker_window(site, "site-a-w00")
    row = window_features(window, T)
    assert row.dtype == np.float32 and row.shape == (len(FEATURES),)
    assert {"gas:O2", "gas:H2S", "hr", "motion", "gps", "battery"} <= set(window.kinds)
    assert np.isfinite(row).all()  # a worker with every sensor on has every feature


def test_changing_anything_after_t_changes_nothing(site: SyntheticSite) -> None:
    columns, window = _worker_window(site, "site-a-w03")
    for t in (T, START_TS + 60.0, START_TS + 7.5 * 3600.0):
        before = window_features(window, t)
        later = columns["ts"] > t
        changed = {c: v.copy() for c, v in columns.items()}
        for c in ("v1", "v2", "v3"):
            changed[c][later] = 1e6  # an absurd future
        extra = {  # and readings that arrive later, some of every kind
            "kind": np.array(["gas:H2S", "hr", "motion", "gps", "battery"]),
            "ts": np.full(5, t + 0.001),
            "v1": np.full(5, 500.0), "v2": np.full(5, 3.0), "v3": np.full(5, 9.0),
        }
        changed = {c: np.concatenate([changed[c], extra[c]]) for c in changed}
        after = window_features(SensorWindow.from_columns(**changed), t)
        np.testing.assert_array_equal(before, after)


def test_the_window_is_closed_at_both_ends() -> None:
    rows = [("gas:CO", T - WINDOW_S, 7.0, None, None), ("gas:CO", T - WINDOW_S - 0.5, 99.0, None, None),
            ("gas:CO", T, 9.0, None, None)]
    row = window_features(_window(rows), T)
    assert row[F["gas_CO_min"]] == 7.0 and row[F["gas_CO_max"]] == 9.0 and row[F["gas_CO_last"]] == 9.0


def test_absent_sensors_are_nan_and_their_gap_is_whole() -> None:
    rows = [("gas:H2S", T - 100.0 + i, 1.0, 100.0, None) for i in range(10)]
    row = window_features(_window(rows), T)
    for name in FEATURES:
        if name.startswith(("hr_", "motion_", "gps_", "battery", "gas_O2", "gas_LEL", "gas_CO")):
            assert np.isnan(row[F[name]]), name
    assert row[F["gap_hr_frac"]] == row[F["gap_motion_frac"]] == row[F["gap_gps_frac"]] == 1.0
    assert np.isfinite(row[F["gas_H2S_last"]])
    empty = window_features(SensorWindow({}), T)
    assert np.isfinite(empty[[F["tod_sin"], F["tod_cos"]]]).all()
    assert np.isnan(np.delete(empty, [F["tod_sin"], F["tod_cos"], *(F[f"gap_{g}_frac"] for g in
                                                                    ("gas", "hr", "motion", "gps"))])).all()


def test_gas_statistics_and_slope_per_minute() -> None:
    ts = T - 240.0 + np.arange(0.0, 241.0, 10.0)
    rows = [("gas:H2S", t, 0.5 + 2.0 * (t - ts[0]) / 60.0, 100.0, None) for t in ts]  # +2 ppm per minute
    rows.append(("gas:H2S", T - 5.0, None, None, None))  # a reading without a value counts for nothing
    row = window_features(_window(rows), T)
    assert row[F["gas_H2S_slope"]] == pytest.approx(2.0, rel=1e-5)
    assert row[F["gas_H2S_min"]] == pytest.approx(0.5)
    assert row[F["gas_H2S_max"]] == row[F["gas_H2S_last"]] == pytest.approx(8.5)
    one = window_features(_window(rows[-2:]), T)  # one value, and one reading without
    assert np.isnan(one[F["gas_H2S_slope"]]) and one[F["gas_H2S_last"]] == pytest.approx(8.5)


def test_heart_rate_without_pulse_is_counted_not_averaged() -> None:
    bpm = [80.0, 0.0, 90.0, 0.0, 100.0, 110.0, 0.0, 120.0]
    rows = [("hr", T - 70.0 + 10.0 * i, b, None, None) for i, b in enumerate(bpm)]
    row = window_features(_window(rows), T)
    assert row[F["hr_no_pulse_frac"]] == pytest.approx(3 / 8)
    assert row[F["hr_mean"]] == pytest.approx(100.0) and row[F["hr_max"]] == 120.0
    assert row[F["hr_std"]] == pytest.approx(np.std([80, 90, 100, 110, 120]))
    assert row[F["hr_slope"]] > 0.0


def test_motion_magnitude_and_still_fraction() -> None:
    still = [("motion", T - 100.0 + i, 0.02, 0.01, 0.99) for i in range(6)]
    moving = [("motion", T - 50.0 + i, 0.9, 0.5, 1.4) for i in range(2)]
    row = window_features(_window(still + moving), T)
    assert row[F["motion_still_frac"]] == pytest.approx(6 / 8)
    assert row[F["motion_mean"]] > 1.0 and row[F["motion_std"]] > 0.1


def test_gps_speed_from_fixes_ignores_zero_zero() -> None:
    metres_per_degree = 6_371_000.0 * np.pi / 180.0
    rows = [("gps", T - 100.0 + 10.0 * i, 51.5 + 15.0 * i / metres_per_degree, -0.12, 1.2) for i in range(8)]
    rows.insert(4, ("gps", T - 64.0, 0.0, 0.0, 9.9))  # "never trust 0,0"
    row = window_features(_window(rows), T)
    assert row[F["gps_speed_mean"]] == pytest.approx(1.5, rel=1e-3)
    assert row[F["gps_speed_max"]] == pytest.approx(1.5, rel=1e-3)
    assert row[F["gps_hdop_mean"]] == pytest.approx(1.2)


def test_gap_fraction_and_time_of_day() -> None:
    rows = [("hr", T - 149.0 + i, 80.0, None, None) for i in range(150)]  # the last half of the window only
    row = window_features(_window(rows), T)
    assert row[F["gap_hr_frac"]] == pytest.approx(1.0 - 15 * GAP_BIN_S / WINDOW_S)
    six = START_TS + 11 * 3600.0  # 06:00 UTC
    assert window_features(SensorWindow({}), six)[F["tod_sin"]] == pytest.approx(1.0)


def test_columns_in_any_order_give_the_same_window(site: SyntheticSite) -> None:
    columns, window = _worker_window(site, "site-a-w05")
    order = np.random.default_rng(1).permutation(columns["ts"].size)
    shuffled = SensorWindow.from_columns(**{c: v[order] for c, v in columns.items()})
    np.testing.assert_array_equal(window_features(window, T), window_features(shuffled, T))


def test_bad_columns_are_named() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        SensorWindow.from_columns(["hr"], [T, T], [1.0], [None], [None])
    with pytest.raises(ValueError, match="non-finite ts"):
        SensorWindow.from_columns(["hr"], [float("nan")], [1.0], [None], [None])
    with pytest.raises(ValueError, match="scoring time"):
        window_features(SensorWindow({}), float("inf"))

"""Labelled examples from synced rows: labels, whose sensors, segments, negatives far from alarms."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cloud_sync.contract.records import AlarmRecord, ReadingRecord, VerdictRecord
from models.risk.examples import (
    FAR_S,
    LEAD_S,
    Examples,
    Origin,
    alarm_examples,
    alarm_gas,
    latest_verdicts,
    risk_examples,
    subject_sensors,
)
from models.risk.features import FEATURES
from models.risk.synthetic import START_TS, SyntheticSite, generate_site

F = {name: i for i, name in enumerate(FEATURES)}
SYNCED = ("device_id", "site")  # columns of the cloud's synced tables beside the record


def test_generated_rows_are_what_the_sync_contract_carries(site: SyntheticSite) -> None:
    for alarm in site.alarms[:20]:
        AlarmRecord.model_validate({k: v for k, v in alarm.items() if k not in SYNCED})
    for verdict in site.verdicts[:20]:
        VerdictRecord.model_validate({k: v for k, v in verdict.items() if k not in SYNCED})
    r = site.readings
    for i in np.linspace(0, r["ts"].size - 1, 50).astype(int):
        ReadingRecord.model_validate({"device": r["device"][i], "kind": r["kind"][i], "ts": r["ts"][i],
                                      **{c: None if np.isnan(r[c][i]) else r[c][i] for c in ("v1", "v2", "v3")}})
    assert set(np.unique(r["device_id"])) == set(site.site_of)
    again = generate_site("site-a", seed=0)
    assert again.alarms == site.alarms and again.verdicts == site.verdicts
    np.testing.assert_array_equal(again.readings["v1"], site.readings["v1"])


def test_latest_verdict_revision_wins() -> None:
    rows = [
        {"alarm_id": "a", "verdict": "false_alarm", "ts": 200.0},
        {"alarm_id": "a", "verdict": "confirmed", "ts": 100.0},
        {"alarm_id": "b", "verdict": "confirmed", "ts": 50.0},
        {"alarm_id": "b", "verdict": "false_alarm", "ts": 50.0},  # same second: the later row
    ]
    assert latest_verdicts(rows) == {"a": "false_alarm", "b": "false_alarm"}
    with pytest.raises(ValueError, match="'maybe'"):
        latest_verdicts([{"alarm_id": "c", "verdict": "maybe", "ts": 1.0}])


def test_alarm_examples_label_every_alarm_with_a_verdict(site: SyntheticSite) -> None:
    ex = alarm_examples(site.alarms, site.verdicts, site.readings, site.roster, site.site_of)
    judged = {a["alarm_id"]: a for a in site.alarms if a["verdict"] is not None}  # the generator's truth
    assert len(ex) == len(judged) and ex.dropped == {"no_verdict": len(site.alarms) - len(judged)}
    revised = [alarm_id for alarm_id, n in Counter(v["alarm_id"] for v in site.verdicts).items() if n > 1]
    assert revised, "the generator revises some verdicts"
    for i, alarm_id in enumerate(ex.alarm_id):
        alarm = judged[alarm_id]
        assert ex.y[i] == (alarm["verdict"] == "confirmed")  # the revision, not the first verdict
        assert ex.t[i] == alarm["raised_ts"] and ex.kind[i] == alarm["kind"] and ex.subject[i] == alarm["subject"]
        assert ex.site[i] == "site-a" and ex.device_type[i] == site.site_of[alarm["device_id"]].device_type
        assert ex.gas[i] == alarm_gas(alarm)
        hour = int(alarm["raised_ts"] % 86_400 // 3_600)
        assert ex.night[i] == (hour >= 22 or hour < 6)
    assert ex.X.dtype == np.float32 and ex.y.dtype == np.int8
    assert set(ex.night) == {True, False} and len(set(ex.device_type)) == 2


def test_zone_alarms_use_the_zone_detectors_and_worker_alarms_add_them(site: SyntheticSite) -> None:
    ex = alarm_examples(site.alarms, site.verdicts, site.readings, site.roster, site.site_of)
    zone = ex.kind == "zone_gas"
    assert zone.any()
    assert np.isnan(ex.X[zone][:, F["hr_mean"]]).all()  # a fixed detector has no pulse
    assert np.isfinite(ex.X[zone][:, F["gas_H2S_last"]]).all()
    assert np.isnan(ex.X[zone][:, F["gas_CO_last"]]).all()  # the fixed detectors measure H2S and LEL only
    worker = next(a for a in site.alarms if a["subject"].startswith("worker:"))
    with_zone = subject_sensors(worker, site.roster, with_zone=True)
    assert with_zone == (*site.roster[worker["workers"][0]], *site.roster[f"zone:{worker['zone']}"])
    assert subject_sensors(worker, site.roster, with_zone=False) == tuple(site.roster[worker["workers"][0]])
    device = {"alarm_id": "d", "subject": "device:site-a-gd00", "workers": ["site-a-w01"]}
    assert subject_sensors(device, site.roster, with_zone=True) == ("site-a-gd00", *site.roster["site-a-w01"])


def test_rows_as_dicts_give_the_same_examples_as_columns(site: SyntheticSite) -> None:
    early = site.readings["ts"] < START_TS + 5400.0  # the first 90 minutes keep the dicts few
    r = {c: v[early] for c, v in site.readings.items()}
    rows = [dict(zip(r, values)) for values in zip(*(r[c].tolist() for c in r))]
    alarms = [a for a in site.alarms if a["raised_ts"] < START_TS + 5400.0]
    assert len(alarms) > 5
    a = alarm_examples(alarms, site.verdicts, r, site.roster, site.site_of)
    b = alarm_examples(alarms, site.verdicts, rows, site.roster, site.site_of)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


def test_alarms_without_sensors_are_counted_and_bad_rows_named(site: SyntheticSite) -> None:
    gone = ("site-a-w00", "zone:tank")  # a worker of the tank, and the tank's detector
    roster = {k: v for k, v in site.roster.items() if k not in gone}
    ex = alarm_examples(site.alarms, site.verdicts, site.readings, roster, site.site_of)
    lost = [a for a in site.alarms if a["verdict"] and a["subject"] in ("worker:site-a-w00", "zone:tank")]
    assert ex.dropped["no_sensors"] == len(lost) > 0
    with pytest.raises(ValueError, match="'site-a-pi' is not in site_of"):
        alarm_examples(site.alarms, site.verdicts, site.readings, site.roster, {"site-a-jetson": Origin("a", "x")})
    with pytest.raises(ValueError, match=r"readings columns \['v3'\] are missing"):
        alarm_examples(site.alarms, site.verdicts, {c: v for c, v in site.readings.items() if c != "v3"},
                       site.roster, site.site_of)
    odd = dict(site.alarms[0], subject="crane:c1")
    with pytest.raises(ValueError, match="subject 'crane:c1'"):
        alarm_examples([odd], site.verdicts, site.readings, site.roster, site.site_of)


def test_risk_examples_end_before_confirmed_alarms_and_negatives_stay_far(training_sites: SyntheticSite) -> None:
    s = training_sites
    ex = risk_examples(s.alarms, s.readings, s.roster, np.random.default_rng(7), 2, site_of=s.site_of)
    confirmed = {a["alarm_id"]: a for a in s.alarms if a["verdict"] == "confirmed"}
    positive = ex.y == 1
    assert sorted(ex.alarm_id[positive]) == sorted(confirmed)
    for alarm_id, t in zip(ex.alarm_id[positive], ex.t[positive]):
        assert t == confirmed[alarm_id]["raised_ts"] - LEAD_S
    negatives = ~positive
    assert negatives.sum() + ex.dropped.get("negatives_short", 0) == 2 * positive.sum()
    assert negatives.sum() >= 1.5 * positive.sum()
    for subject, site_name, t in zip(ex.subject[negatives], ex.site[negatives], ex.t[negatives]):
        ident = subject.partition(":")[2]
        for alarm in s.alarms:
            if alarm["site"] == site_name and (alarm["subject"] == subject or ident in alarm["workers"]
                                               or subject == f"zone:{alarm['zone']}"):
                assert abs(alarm["raised_ts"] - t) >= FAR_S
    assert np.isfinite(ex.X[negatives][:, F["gas_O2_last"]]).mean() > 0.5  # negatives have data, like positives
    assert set(ex.kind[negatives]) == {""} and set(ex.alarm_id[negatives]) == {""}
    again = risk_examples(s.alarms, s.readings, s.roster, np.random.default_rng(7), 2, site_of=s.site_of)
    np.testing.assert_array_equal(again.X, ex.X)


def test_risk_examples_take_the_latest_verdict_when_verdicts_are_given(site: SyntheticSite) -> None:
    flipped = [dict(v, verdict="confirmed", ts=v["ts"] + 86_400.0) for v in site.verdicts]
    ex = risk_examples(site.alarms, site.readings, site.roster, np.random.default_rng(0), 0,
                       site_of=site.site_of, verdicts=flipped)
    assert len(ex) == len({v["alarm_id"] for v in site.verdicts}) and ex.y.all()


def test_take_and_concat_keep_rows_together(training: Examples) -> None:
    first, second = training.take(np.arange(10)), training.take(np.arange(10, len(training)))
    joined = Examples.concat([first, second])
    np.testing.assert_array_equal(joined.X, training.X)
    assert list(joined.alarm_id) == list(training.alarm_id)
    assert set(training.segments()) == {"site", "device_type", "gas", "time_of_day", "kind"}
    with pytest.raises(ValueError, match="Examples.y has 3 entries"):
        Examples(training.X[:2], training.y[:3], *(getattr(training, c)[:2] for c in
                                                  ("kind", "site", "device_type", "gas", "night", "alarm_id",
                                                   "subject", "t")))

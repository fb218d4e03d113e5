"""The edge's risk scorer with real signed packages in LiteRT: alarms scored off the loop, shadow runs, switches."""
from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import (Actor, AlarmKind, AlarmTransition, Channel, ConditionUpdate, Notify, Priority,
                                       Subject, SubjectKind, TransitionCause, Verdict)
from edge_runtime.config.alarms import AlarmSettings
from edge_runtime.config.risk import RiskSettings
from edge_runtime.risk.recent import RecentReadings, window_of
from edge_runtime.risk.service import RiskScorer, _Job
from edge_runtime.updates.slots import SlotError
from firmware_bridge.readings import HeartRate, Observation
from models.risk.features import window_features

from .conftest import RiskPackages

ROSTER = {f"w{i}": [f"hr-{i}"] for i in range(1, 9)}
SUPERVISOR = Actor(Channel.DASHBOARD, "sup", may_label=True)


class Site:
    """An alarm engine on the real clock with the scorer on its transitions, and heart rates to feed it."""

    def __init__(self, risk_packages: RiskPackages, **settings: object) -> None:
        self.transitions: list[AlarmTransition] = []
        self.engine = AlarmEngine(AlarmSettings(), self._on_transition)
        self.scorer = RiskScorer(RiskSettings(**settings), ROSTER, self.engine, keys=lambda: risk_packages.trusted)

    def _on_transition(self, t: AlarmTransition) -> None:
        self.transitions.append(t)
        self.scorer.on_transition(t)

    def heart_rate(self, worker: int, bpm: int, now: float, seconds: int = 120) -> None:
        for s in range(seconds):
            self.scorer.readings.on_observation(Observation(f"hr-{worker}", HeartRate(bpm), now - seconds + s))

    def raise_alarm(self, worker: int, now: float, condition: str = "panic") -> str:
        subject = Subject(SubjectKind.WORKER, f"w{worker}")
        self.engine.update(ConditionUpdate(subject, condition, AlarmKind.PANIC, True, Priority.CRITICAL, "panic", now,
                                           notify=Notify(workers=(f"w{worker}",))))
        return self.engine.by_key((subject, condition)).alarm_id

    def scored(self) -> list[AlarmTransition]:
        return [t for t in self.transitions if t.cause is TransitionCause.SCORED]

    async def until_scored(self, n: int) -> list[AlarmTransition]:
        for _ in range(200):
            if len(self.scored()) >= n:
                return self.scored()
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.scored())} of {n} alarms scored")


async def test_a_raised_alarm_is_scored_with_the_models_lineage_and_nothing_else_changes(
        risk_packages: RiskPackages) -> None:
    site = Site(risk_packages)
    await site.scorer.start(risk_packages.good)
    try:
        now = time.time()
        site.heart_rate(1, 150, now)
        site.heart_rate(2, 70, now)
        high, low = site.raise_alarm(1, now), site.raise_alarm(2, now)
        scored = {t.alarm.alarm_id: t for t in await site.until_scored(2)}
        assert scored[high].alarm.risk_score > 0.9 > 0.1 > scored[low].alarm.risk_score
        lineage = scored[high].alarm.risk_model
        assert lineage["name"] == "siteguard-risk" and lineage["version"] == "1.0.0" and len(lineage["sha256"]) == 64
        raised = next(t for t in site.transitions if t.cause is TransitionCause.RAISED and t.alarm.alarm_id == high)
        t = scored[high]
        assert (t.from_state, t.to_state, t.alarm.priority) == (raised.to_state, raised.to_state, raised.alarm.priority)
        assert not t.extra.get("announce")  # a score alerts nobody
        record = t.alarm.record()
        assert record.risk_score == t.alarm.risk_score and record.risk_model == lineage
        # the same numbers the cloud computes from the synced rows
        window = site.scorer.readings.snapshot(["hr-1"], now)
        model = site.scorer._model
        expected = model.score(model.rows(window_features(window_of(window), now)))[0]
        assert record.risk_score == pytest.approx(expected, abs=1e-6)
    finally:
        await site.scorer.stop()


async def test_without_a_model_alarms_go_unscored_and_a_bad_package_keeps_it_so(
        risk_packages: RiskPackages, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(risk_packages.good, tampered)
    with (tampered / "risk.onnx").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    site = Site(risk_packages, model=tampered)
    await site.scorer.start()  # the configured package is refused: logged, the daemon goes on
    try:
        assert site.scorer.active() is None
        site.raise_alarm(1, 1_800_000_000.0)
        await asyncio.sleep(0.2)
        assert site.scored() == []
        with pytest.raises(SlotError, match="sha256"):
            await site.scorer.activate(tampered)
        ref = await site.scorer.activate(risk_packages.good)
        assert ref.version == "1.0.0" and site.scorer.active_package() == risk_packages.good
        with pytest.raises(SlotError, match="sha256"):
            await site.scorer.activate(tampered)
        assert site.scorer.active().version == "1.0.0"  # the old model keeps running
    finally:
        await site.scorer.stop()


async def _judged_alarms(site: Site, n: int) -> None:
    """``n`` alarms on alternating high and low heart rates, each labelled as the heart rate says."""
    now = time.time()
    ids = []
    for i in range(n):
        worker = i % 8 + 1
        site.heart_rate(worker, 150 if i % 2 == 0 else 70, now)
        ids.append(site.raise_alarm(worker, now, condition=f"panic:{i}"))
    await site.until_scored(n)
    for i, alarm_id in enumerate(ids):
        site.engine.acknowledge(alarm_id, SUPERVISOR, verdict=Verdict.CONFIRMED if i % 2 == 0 else Verdict.FALSE_ALARM)


async def test_shadow_passes_a_like_model_and_calls_an_inverted_one_a_regression(risk_packages: RiskPackages) -> None:
    site = Site(risk_packages, shadow_every_s=0.1)
    await site.scorer.start(risk_packages.good)
    try:
        await _judged_alarms(site, 12)
        like = await site.scorer.shadow(risk_packages.good_v2, 0.5)
        assert like.compared >= 8 and like.agreement == pytest.approx(1.0) and like.regression is None
        assert like.candidate_p95_ms is not None and like.active_p95_ms is not None
        worse = await site.scorer.shadow(risk_packages.inverted, 0.3)
        assert worse.regression is not None and "confirmed alarms" in worse.regression
        assert site.scorer.active().version == "1.0.0"  # a shadow never switches
        perf = site.scorer.performance()
        assert (perf.alarms, perf.confirmed, perf.false) == (12, 6, 6)
        assert perf.precision == pytest.approx(0.5) and perf.recall_confirmed == pytest.approx(1.0)
        assert perf.inferences >= 12 and perf.inference_p95_ms > 0
    finally:
        await site.scorer.stop()


async def test_health_reports_scoring_over_its_latency_budget(risk_packages: RiskPackages) -> None:
    site = Site(risk_packages)
    await site.scorer.start(risk_packages.good)
    try:
        since = time.time() - 1
        for worker in range(1, 7):
            site.raise_alarm(worker, time.time())
        await site.until_scored(6)
        assert site.scorer.health(since, latency_budget_ms=10_000).problem is None
        problem = site.scorer.health(since, latency_budget_ms=1e-6).problem
        assert problem is not None and "over the budget" in problem
    finally:
        await site.scorer.stop()


async def test_a_full_queue_sheds_its_oldest_jobs_counted(risk_packages: RiskPackages) -> None:
    site = Site(risk_packages, queue=8)
    await site.scorer.start(risk_packages.good)
    try:
        now = time.time()
        site.heart_rate(1, 150, now, seconds=300)
        window = site.scorer.readings.snapshot(["hr-1"], now)
        for _ in range(200):
            site.scorer._thread.put(_Job(None, now, window))
        stats = site.scorer.queues()[0]
        assert stats.enqueued == 200 and stats.shed > 0 and stats.high_water <= 8
    finally:
        await site.scorer.stop()


def test_recent_readings_stay_bounded_and_keep_only_rostered_sensors() -> None:
    recent = RecentReadings({"w1": ["hr-1"]}, per_sensor=100)
    for s in range(1000):
        recent.on_observation(Observation("hr-1", HeartRate(80), float(s)))
        recent.on_observation(Observation("stranger", HeartRate(80), float(s)))
    assert recent.sensors == 1
    (kept,) = recent.snapshot(["hr-1", "stranger"], 999.0)
    assert len(kept) == 100 and kept[-1].ts == 999.0
    window = window_of((kept,))
    assert window.kinds == ("hr",) and np.isfinite(window_features(window, 999.0)).any()

"""Shadow runs: the frame comparison and rule (pure), then real workers running real candidates beside the default."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edge_runtime.updates.camera_slot import CameraSlot
from edge_runtime.updates.slots import SlotError
from edge_runtime.vision.detections import Detection
from edge_runtime.vision.shadow import ShadowRule, ShadowStats, match_frame

from .slot_support import Packages, build_packages, frames, running

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")


def _d(label: str, x: float, score: float = 0.9) -> Detection:
    return Detection(label, score, (x, 10.0, x + 40.0, 90.0))


def test_matching_is_one_to_one_by_label_and_iou() -> None:
    active = [_d("person", 0), _d("person", 100), _d("no_helmet", 0)]
    candidate = [_d("person", 4, 0.7), _d("person", 6, 0.8), _d("no_helmet", 60)]  # both near the first person
    m = match_frame(active, candidate)
    assert m.matched == {"person": 1} and not m.agrees
    assert m.score_deltas["person"] == pytest.approx(0.7 - 0.9)  # the higher-IoU pair (x=4) wins
    assert match_frame(active, list(active)).agrees and match_frame([], []).agrees


def test_rule_says_why_a_candidate_regresses() -> None:
    stats = ShadowStats()
    for _ in range(10):
        stats.add(match_frame([_d("person", 0), _d("person", 100)], [_d("person", 2)]))
    stats.candidate_ms, stats.active_ms = [3.0] * 10, [2.0] * 10
    assert stats.recall("person") == 0.5 and stats.agreed == 0
    assert "10 of the active model's 20 person" in (ShadowRule().judge(stats) or "")
    assert ShadowRule(min_recall=0.5).judge(stats) is None
    assert "p95 3.0 ms over the budget of 2.5 ms" in (ShadowRule(min_recall=0.5, latency_budget_ms=2.5).judge(stats) or "")
    assert "only 0 frames compared" in (ShadowRule().judge(ShadowStats()) or "")
    both = stats.merge(stats)
    summary = ShadowRule(min_recall=0.5).summary(both)
    assert (both.cameras, summary.compared, summary.agreement, summary.candidate_p95_ms) == (2, 20, 0.0, 3.0)


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, default_package: Path) -> Packages:
    return build_packages(default_package, tmp_path_factory.mktemp("shadow-packages"))


async def test_shadow_runs_beside_the_active_model_without_stopping_it(tmp_path: Path, packages: Packages) -> None:
    """Good, blind, slow and crashing candidates on one real worker; the default's detections keep flowing."""
    supervisor, events = await running(tmp_path, packages.default)
    slot = CameraSlot(supervisor)
    try:
        await events.until(lambda e: bool(frames(events)), 60)
        await asyncio.sleep(2.0)
        t0 = time.time()
        await asyncio.sleep(3.0)
        idle_rate = len(frames(events, after_ts=t0)) / 3.0

        t1 = time.time()
        good = await slot.shadow(packages.good, 3.0)
        shadow_rate = len(frames(events, after_ts=t1)) / (time.time() - t1)
        assert good.regression is None and good.compared >= 5, good
        assert good.agreement is not None and good.agreement >= 0.9, good
        assert good.candidate_p95_ms is not None and good.active_p95_ms is not None
        assert idle_rate > 2 and shadow_rate > idle_rate / 3, (idle_rate, shadow_rate)  # same order of magnitude
        assert all(f.model_version != "2.0.0-good" for f in frames(events)), "the candidate never publishes"

        blind = await slot.shadow(packages.blind, 3.0)
        assert blind.regression is not None and "person detections" in blind.regression, blind
        assert blind.agreement is not None and blind.agreement < 0.5

        slow = await slot.shadow(packages.slow, 1.0, latency_budget_ms=20.0)
        assert slow.regression is not None and "over the budget of 20 ms" in slow.regression, slow

        with pytest.raises(SlotError, match="do not decode"):
            await slot.shadow(packages.crashing, 3.0)
        t2 = time.time()
        await asyncio.sleep(1.5)
        assert frames(events, after_ts=t2), "the active model still runs"
        assert supervisor.status()["cam0"]["restarts"] == 0, "no candidate ended the worker"
    finally:
        await supervisor.stop()

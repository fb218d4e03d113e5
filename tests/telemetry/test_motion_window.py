"""The reduced accelerometer stream leaves man-down and fall detection exactly where the full one does."""
from __future__ import annotations

from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from edge_runtime.telemetry.motion_window import MotionReducer, Sample
from firmware_bridge.readings import Motion
from tests.fusion.support import Harness, site

STILL, WALK, FREE_FALL, IMPACT = (0.02, -0.01, 1.0), (0.3, 0.1, 1.3), (0.05, 0.05, 0.2), (2.0, 1.5, 2.0)
CLASSES = (STILL, WALK, FREE_FALL, IMPACT)
FAST = site(man_down={"no_motion_s": 5, "cancel_window_s": 3, "fall": {"inactivity_s": 2, "settle_s": 1}})


def _replay(windows: list[tuple[float, list[Sample]]], reduce: bool) -> Harness:
    h = Harness(FAST)
    reducer = MotionReducer(h.config.man_down)
    for gap, samples in windows:
        h.advance(gap)
        for ax, ay, az, _ts in (reducer.reduce(samples) if reduce else samples):
            h.feed("wb07", Motion(ax, ay, az))
    h.advance(12)
    return h


windows = st.lists(
    st.tuples(
        st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0, 7.0]),
        st.lists(st.sampled_from(CLASSES), min_size=1, max_size=40),
    ),
    min_size=1, max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(windows)
@example([(0.1, [FREE_FALL]), (0.1, [STILL, IMPACT, WALK]), (3.0, [STILL]), (0.1, [WALK])])  # fall across messages
@example([(7.0, [FREE_FALL]), (0.1, [STILL, IMPACT, WALK]), (3.0, [STILL])])
def test_reduced_windows_raise_and_clear_what_full_windows_do(spec: list[tuple[float, list[tuple[float, ...]]]]) -> None:
    # samples of one message share its receive time, as the ingest process stamps them
    stamped = []
    t = 0.0
    for gap, classes in spec:
        t += gap
        stamped.append((gap, [(*c, t) for c in classes]))
    note(repr(stamped))
    full, reduced = _replay(stamped, reduce=False), _replay(stamped, reduce=True)
    assert reduced.updates == full.updates
    assert reduced.pre_alarms == full.pre_alarms


def test_a_window_becomes_at_most_seven_samples_and_reducing_twice_changes_nothing() -> None:
    reducer = MotionReducer(Harness(FAST).config.man_down)
    window = [(*c, 1.0) for c in (STILL, WALK, FREE_FALL, FREE_FALL, IMPACT, WALK, FREE_FALL, STILL, STILL) * 20]
    once = reducer.reduce(window)
    assert len(once) <= 7
    assert reducer.reduce(once) == once
    # merging reduced windows and reducing again is reducing the whole
    assert reducer.reduce(once + reducer.reduce(window)) == reducer.reduce(window + window)


def test_a_fall_survives_the_reduction() -> None:
    h = Harness(FAST)
    reducer = MotionReducer(h.config.man_down)
    walking = [(*WALK, h.t)] * 10
    fall = [(*STILL, h.t + 1)] * 5 + [(*FREE_FALL, h.t + 1)] * 3 + [(*IMPACT, h.t + 1)] + [(*STILL, h.t + 1)] * 10
    for gap, window in ((0.0, walking), (1.0, fall)):
        h.advance(gap)
        for ax, ay, az, _ in reducer.reduce(window):
            h.feed("wb07", Motion(ax, ay, az))
    for _ in range(30):  # stillness keeps being reported, as a fallen worker's wearable does
        h.advance(0.25)
        h.feed("wb07", Motion(*STILL))
    assert [p.kind.value for p in h.pre_alarms][:1] == ["fall"]

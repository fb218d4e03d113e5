"""Accelerometer samples reduced to the few that man-down and fall detection act on.

``fusion`` judges motion with a small state machine per wearable
(edge_runtime/fusion/man_down.py): a free fall, an impact soon after it,
movement (|a| off 1 g) and the time of the first and last sample. Replaying
only these samples, in order, leaves that state machine exactly where the
whole sequence would have left it:

* the first sample (the stillness clock starts at the first sample ever seen),
* the first impact before any free fall of the window: it may complete a free
  fall of an earlier message that fusion still holds (a free fall and its
  impact often arrive in two messages),
* the last effective fall: the latest free-fall sample before the last impact
  that followed a free fall within ``impact_within_s``, and that impact
  (a later impact overrides an earlier one, so earlier pairs do not matter),
* a free fall after that impact, still waiting for its impact,
* the last moving sample (it sets ``last_move``, clears a settled impact and
  cancels a pre-alarm; an earlier one only does the same earlier),
* the last sample (``last_sample``: stillness must be seen until then).

So a window of any length becomes at most seven samples, and merging two
reduced windows and reducing again gives the same result as reducing the
whole sequence: the telemetry coalescer relies on that.
"""
from __future__ import annotations

from edge_runtime.config.people import ManDownSettings

Sample = tuple[float, float, float, float]  # ax, ay, az (g), ts


class MotionReducer:
    """Reduces ordered samples with one site's man-down thresholds (pure, no state)."""

    __slots__ = ("_still_lo2", "_still_hi2", "_free_fall2", "_impact2", "_impact_within_s")

    def __init__(self, settings: ManDownSettings) -> None:
        fall = settings.fall
        self._still_lo2 = max(1.0 - settings.motion_threshold_g, 0.0) ** 2
        self._still_hi2 = (1.0 + settings.motion_threshold_g) ** 2
        self._free_fall2 = fall.free_fall_g**2
        self._impact2 = fall.impact_g**2
        self._impact_within_s = fall.impact_within_s

    def reduce(self, samples: list[Sample]) -> list[Sample]:
        """The subsequence of ``samples`` (ordered by arrival) the fusion rules need."""
        if len(samples) <= 2:
            return samples
        free_fall = -1  # index of the pending free fall (fusion's free_fall_ts)
        fall_pair = (-1, -1)  # (free fall, impact) of the last effective fall
        moving = -1
        orphan_impact = -1  # the first impact before any free fall here: an earlier window's may pair with it
        seen_free_fall = False
        for i, (ax, ay, az, ts) in enumerate(samples):
            m2 = ax * ax + ay * ay + az * az
            if m2 < self._free_fall2:
                free_fall, seen_free_fall = i, True
            elif m2 > self._impact2:
                if free_fall >= 0 and ts - samples[free_fall][3] <= self._impact_within_s:
                    fall_pair, free_fall = (free_fall, i), -1
                elif not seen_free_fall and orphan_impact < 0:
                    orphan_impact = i
            if m2 > self._still_hi2 or m2 < self._still_lo2:
                moving = i
        keep = {0, len(samples) - 1, *fall_pair, free_fall, moving, orphan_impact}
        keep.discard(-1)
        return [samples[i] for i in sorted(keep)]

"""The priority lanes as the agent drives them: their tables, their schedule and their bandwidth.

Tables and order come from the contract (``cloud_sync.contract.tables``):
events, then bulk, then snapshots. A lane sends only inside its schedule
(site local time) and while its bucket is not in debt; a lane that may not
send now does not hold up the lanes after it, so a capped bulk lane never
delays a snapshot window, and events, first in line, never wait for either.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cloud_sync.contract.tables import LANES, Lane
from edge_runtime.config.sync import LaneSettings, SyncLanes, window_minutes

from .bandwidth import TokenBucket


class Schedule:
    """Windows of the day in one time zone; none means always open."""

    def __init__(self, windows: tuple[str, ...], timezone: str) -> None:
        self._windows = [window_minutes(w) for w in windows]
        self._zone = ZoneInfo(timezone)

    def is_open(self, ts: float) -> bool:
        if not self._windows:
            return True
        local = datetime.fromtimestamp(ts, self._zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end if start < end else minute >= start or minute < end
                   for start, end in self._windows)


@dataclass(frozen=True, slots=True)
class LanePolicy:
    lane: Lane
    tables: tuple[str, ...]
    schedule: Schedule
    bucket: TokenBucket

    def wait_s(self, now: float) -> float | None:
        """0 when the lane may send now, the seconds until its bucket allows it, None outside its schedule."""
        if not self.schedule.is_open(now):
            return None
        return self.bucket.wait_s()


def lane_policies(lanes: SyncLanes, timezone: str, clock: Callable[[], float]) -> tuple[LanePolicy, ...]:
    """One policy per lane, in drain order."""

    def policy(lane: Lane, settings: LaneSettings) -> LanePolicy:
        return LanePolicy(lane, LANES[lane], Schedule(settings.schedule, timezone),
                          TokenBucket(settings.bandwidth_bytes_per_s, clock))

    return tuple(policy(lane, getattr(lanes, lane.value)) for lane in Lane)

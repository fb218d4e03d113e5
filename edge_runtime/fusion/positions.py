"""Latest position per tracked worker or piece of equipment, and its staleness.

A position older than ``positions.stale_after_s`` is *stale*: it is still shown
(as stale) and still holds zone occupancy, but raises a low-priority
NO_POSITION and is never used to clear anything (DOMAIN.md, GPS and zones).
A tracker is only expected to report once it has produced a valid fix, so a
tag left switched off in the site office raises nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from edge_runtime.alarms.model import AlarmKind, Notify, Subject
from edge_runtime.config.zones import PositionSettings
from edge_runtime.geometry import LocalFrame
from firmware_bridge.readings import GpsFix

from .conditions import ConditionBoard

_CONDITION = "position"


@dataclass(slots=True)
class Position:
    """The last valid fix of one tracked thing, in site metres."""

    x: float
    y: float
    ts: float
    hdop: float | None
    lat: float
    lon: float


@dataclass(slots=True)
class _Track:
    subject: Subject
    label: str
    notify: Notify
    position: Position | None = None
    hdop: float | None = None  # GSA carries HDOP without a position
    stale: bool = False


class PositionTracker:
    """Keeps the latest valid fix per tracked id and reports NO_POSITION."""

    def __init__(self, frame: LocalFrame, settings: PositionSettings, board: ConditionBoard) -> None:
        self._frame = frame
        self._settings = settings
        self._board = board
        self._tracks: dict[str, _Track] = {}

    def track(self, key: str, subject: Subject, label: str, notify: Notify) -> None:
        """Register a worker or equipment whose fixes arrive under ``key``."""
        self._tracks[key] = _Track(subject, label, notify)

    def update(self, key: str, fix: GpsFix, ts: float) -> Position | None:
        """Take one sentence; returns the position when it moved (new coordinates),
        so callers skip geometry for the repeated GGA/RMC/GSA of one epoch."""
        track = self._tracks[key]
        if fix.hdop is not None:
            track.hdop = fix.hdop
        if not fix.fix_valid or fix.lat is None or fix.lon is None or (fix.lat == 0.0 and fix.lon == 0.0):
            return None
        if track.stale:
            track.stale = False
            self._board.clear(track.subject, _CONDITION, ts, f"Position of {track.label} received again")
        pos = track.position
        if pos is None:
            x, y = self._frame.to_xy(fix.lat, fix.lon)
            track.position = pos = Position(x, y, ts, track.hdop, fix.lat, fix.lon)
            return pos
        pos.ts, pos.hdop = ts, track.hdop
        if pos.lat == fix.lat and pos.lon == fix.lon:
            return None
        pos.x, pos.y = self._frame.to_xy(fix.lat, fix.lon)
        pos.lat, pos.lon = fix.lat, fix.lon
        return pos

    def get(self, key: str) -> Position | None:
        track = self._tracks.get(key)
        return track.position if track is not None else None

    def fresh(self, key: str, now: float) -> Position | None:
        """The position if it is not stale (only fresh positions may clear or raise)."""
        pos = self.get(key)
        if pos is None or now - pos.ts > self._settings.stale_after_s:
            return None
        return pos

    def margin(self, pos: Position) -> float:
        """Geofence hysteresis: min(max_margin, factor × HDOP × UERE); HDOP 1 when never reported."""
        s = self._settings
        hdop = pos.hdop if pos.hdop is not None else 1.0
        return min(s.max_margin_m, s.hysteresis_factor * hdop * s.uere_m)

    def tick(self, now: float) -> None:
        """Raise NO_POSITION for tracks whose last fix went stale."""
        limit = self._settings.stale_after_s
        for track in self._tracks.values():
            pos = track.position
            if pos is None or track.stale or now - pos.ts <= limit:
                continue
            track.stale = True
            self._board.raise_(
                track.subject, _CONDITION, AlarmKind.NO_POSITION, now,
                f"No position for {track.label} for {now - pos.ts:.0f} s; last known position shown as stale",
                notify=track.notify,
            )

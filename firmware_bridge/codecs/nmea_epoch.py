"""One receiver's sentences combined as GPSD combines them: a GLL or GGA fix gets ZDA's date and VTG's speed.

``decode_nmea`` is stateless, so a GLL-only receiver's fix would carry a time
of day and no speed or course. GPSD reports the date and the motion of the
same cycle in its TPV, and so does the stream decoder of a serial port with
one :class:`NmeaEpoch` per port:

* **Date**: from the latest ZDA (or RMC with a date) of this receiver. A fix's
  time of day more than 12 h away from that sentence's crosses midnight, so the
  day moves by one; a date not refreshed for ``DATE_KEPT_FIXES`` fixes is
  dropped rather than guessed.
* **Speed and course**: from a VTG of the current cycle (the fixes sharing one
  time of day) or sent just before it; a VTG with FAA mode N (not valid) or
  without a speed is ignored.

VTG and ZDA themselves yield no reading: they only complete fixes.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

from firmware_bridge.errors import CodecError
from firmware_bridge.readings import GpsFix

from .nmea import KNOTS_TO_MPS, checked_body, decode_body

DATE_KEPT_FIXES = 3600  # an hour of 1 Hz fixes without a date sentence: forget the date
KMH_TO_MPS = 1000.0 / 3600.0
_HALF_DAY_S = 43_200.0
_NUMBER = rb"(\d+(?:\.\d*)?|\.\d+)?"
# NMEA 2.3+: course T, course M, speed N (knots), speed K (km/h)[, FAA mode]; NMEA 1.5: four bare numbers
_VTG = re.compile(rb"VTG,(?:" + _NUMBER + rb",T?,[^,]*,M?,"  + _NUMBER + rb",N?," + _NUMBER + rb",K?(?:,([A-Z]?))?"
                  rb"|" + _NUMBER + rb",[^,]*," + _NUMBER + rb"," + _NUMBER + rb")(?:,[^,]*)*")
_ZDA = re.compile(rb"ZDA,([01]\d|2[0-3])([0-5]\d)([0-5]\d|60)(?:\.\d*)?,(0[1-9]|[12]\d|3[01]),(0[1-9]|1[0-2]),"
                  rb"(\d{4})(?:,[^,]*)*")
_COMBINED = frozenset(("GLL", "GGA"))


def _seconds(time_of_day: str) -> float:
    h, m, s = time_of_day.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


class NmeaEpoch:
    """Decodes one receiver's sentences, completing GLL and GGA fixes from ZDA and VTG."""

    def __init__(self) -> None:
        self._date: tuple[date, float] | None = None  # the day, and the time of day it was sent at
        self._date_at = 0  # fixes seen when it came
        self._motion: tuple[float, float | None, int] | None = None  # speed m/s, course, fixes seen before it
        self._fixes = 0
        self._cycle_time: str | None = None
        self._cycle_start = 0  # fixes seen before the first one of the current cycle

    def __call__(self, sentence: bytes) -> GpsFix | None:
        body = checked_body(sentence)
        if body is None:
            return None
        kind = body[2:5]
        if kind == b"VTG":
            self._vtg(body)
            return None
        if kind == b"ZDA":
            self._zda(body)
            return None
        fix = decode_body(body)  # the checksum is checked once
        if fix is None or fix.time is None:
            return fix
        return self._complete(fix)

    def _vtg(self, body: bytes) -> None:
        m = _VTG.fullmatch(body, 2)
        if m is None:
            raise CodecError("malformed VTG sentence")
        course, knots, kmh, mode, old_course, old_knots, old_kmh = m.groups()
        if old_knots is not None or old_kmh is not None:
            course, knots, kmh = old_course, old_knots, old_kmh
        if mode == b"N" or (knots is None and kmh is None):
            self._motion = None
            return
        speed = float(knots) * KNOTS_TO_MPS if knots is not None else float(kmh) * KMH_TO_MPS  # type: ignore[arg-type]
        self._motion = (speed, None if course is None else float(course), self._fixes)

    def _zda(self, body: bytes) -> None:
        m = _ZDA.fullmatch(body, 2)
        if m is None:
            raise CodecError("malformed ZDA sentence")
        h, mi, s, dd, mo, yyyy = (int(g) for g in m.groups())
        try:
            day = date(yyyy, mo, dd)
        except ValueError as exc:
            raise CodecError(f"bad ZDA date: {exc}") from None
        self._date, self._date_at = (day, h * 3600 + mi * 60 + s), self._fixes

    def _complete(self, fix: GpsFix) -> GpsFix:
        assert fix.time is not None
        if self._date is not None and self._fixes - self._date_at >= DATE_KEPT_FIXES:
            self._date = None
        dated = "T" in fix.time
        time_of_day = fix.time.split("T")[1].rstrip("Z") if dated else fix.time
        if time_of_day != self._cycle_time:
            self._cycle_time, self._cycle_start = time_of_day, self._fixes
        self._fixes += 1
        if dated:  # an RMC with a date: the date of this receiver from now on
            day = date.fromisoformat(fix.time[:10])
            self._date, self._date_at = (day, _seconds(time_of_day)), self._fixes
        if fix.sentence not in _COMBINED:
            return fix
        changes: dict[str, object] = {}
        if not dated and self._date is not None:
            changes["time"] = f"{self._day_of(time_of_day).isoformat()}T{time_of_day}Z"
        if fix.speed_mps is None and self._motion is not None and self._motion[2] >= self._cycle_start:
            changes["speed_mps"], changes["course_deg"] = self._motion[0], self._motion[1]
        return dataclasses.replace(fix, **changes) if changes else fix  # type: ignore[arg-type]

    def _day_of(self, time_of_day: str) -> date:
        assert self._date is not None
        day, sent_at = self._date
        delta = _seconds(time_of_day) - sent_at
        if delta < -_HALF_DAY_S:
            return day + timedelta(days=1)
        if delta > _HALF_DAY_S:
            return day - timedelta(days=1)
        return day

"""Shift windows in the site's local time, and the time window of a history or report query.

Shifts are wall-clock times in the site time zone (a night shift ends the day
after it starts), so a window is computed per date with :mod:`zoneinfo`: a
shift across a DST change is an hour shorter or longer, as it was worked.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge_runtime.config.dashboard import DashboardSettings, Shift

MAX_WINDOW_S = 31 * 86400.0  # longer queries are refused: a month of alarms is what a page can hold
DEFAULT_WINDOW_S = 86400.0  # no window given: the last 24 hours


class WindowError(ValueError):
    """A query's window cannot be computed (unknown shift, inverted or too long)."""


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until) in UNIX seconds; ``shift``/``date`` name it when it is a shift."""

    since: float
    until: float
    shift: str | None = None
    date: date | None = None


class ShiftCalendar:
    """The site's shifts on any date, in its time zone."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.tz = ZoneInfo(settings.timezone)
        self.shifts = {s.name: s for s in settings.shifts}

    def window(self, name: str, day: date) -> Window:
        """The shift ``name`` that starts on ``day`` (local date)."""
        shift = self._shift(name)
        start = _local(day, shift.start, self.tz)
        end_day = day if shift.end > shift.start else day + timedelta(days=1)  # equal: a 24-hour shift
        return Window(start.timestamp(), _local(end_day, shift.end, self.tz).timestamp(), name, day)

    def current(self, now: float) -> Window | None:
        """The shift running at ``now``, if any (the latest to start when shifts overlap)."""
        running = [w for w in self._recent(now) if w.until > now]
        return max(running, key=lambda w: w.since, default=None)

    def latest(self, name: str, now: float) -> Window:
        """The shift ``name`` running now, else its most recent one to have started."""
        self._shift(name)
        return max((w for w in self._recent(now) if w.shift == name), key=lambda w: w.since)

    def resolve(
        self, now: float, *, since: float | None = None, until: float | None = None,
        shift: str | None = None, day: str | None = None,
    ) -> Window:
        """A query's window: explicit ``since``/``until``, or a shift (on ``day``, else its latest)."""
        if shift is None:
            if day is not None:
                raise WindowError("date needs a shift")
            end = now if until is None else until
            window = Window(end - DEFAULT_WINDOW_S if since is None else since, end)
        elif since is not None or until is not None:
            raise WindowError("give either since/until or shift (with an optional date), not both")
        elif day is None:
            window = self.latest(shift, now)
        else:
            window = self.window(shift, _parse_date(day))
        if window.until <= window.since:
            raise WindowError(f"the window is empty: since {window.since:g} is not before until {window.until:g}")
        if window.until - window.since > MAX_WINDOW_S:
            raise WindowError(f"the window is longer than {MAX_WINDOW_S / 86400:g} days; ask for a shorter one")
        return window

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def _recent(self, now: float) -> list[Window]:
        """Every shift starting yesterday or today (local), and so every one that can be running."""
        today = self.local(now).date()
        return [
            w for name in self.shifts for day in (today - timedelta(days=1), today)
            if (w := self.window(name, day)).since <= now
        ]

    def _shift(self, name: str) -> Shift:
        try:
            return self.shifts[name]
        except KeyError:
            known = ", ".join(self.shifts) or "none configured"
            raise WindowError(f"unknown shift {name!r} (shifts: {known})") from None


def _local(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=tz)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise WindowError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None

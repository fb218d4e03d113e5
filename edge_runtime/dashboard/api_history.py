"""``/shifts``, ``/history/alarms`` (JSON and CSV) and ``/reports/exposure``: the past, by shift.

Windows are resolved in the site's time zone (shifts.py); SQLite is read in
a worker thread (history.py); the exposure arithmetic is exposure_report.py's.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, cast

from aiohttp import web

from edge_runtime.fusion.conditions import worker_subject
from web_common.api import ApiError, ApiRegistry

from .exposure_report import exposure_lines
from .history import alarm_counts, alarm_history, exposure_minutes, read
from .history_csv import alarms_csv, csv_filename
from .keys import DAEMON
from .roles import Role
from .schemas import AlarmHistory, ExposureQuery, ExposureReport, HistoryQuery, ShiftList, ShiftOut
from .shifts import ShiftCalendar, Window, WindowError

if TYPE_CHECKING:
    from .runtime import DashboardRuntime

#: since/until beyond this are no time a site lived through, and local times cannot be written for them
LATEST_TS = datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp()


def register(api: ApiRegistry) -> None:
    """Declares the history and report endpoints on ``api``."""

    @api.route("GET", "/shifts", role=Role.VIEWER, summary="The site's shifts and the one running now",
               tag="history", response=ShiftList)
    async def shifts(request: web.Request) -> ShiftList:
        daemon = _daemon(request)
        settings = daemon.config.dashboard
        current = ShiftCalendar(settings).current(daemon.clock())
        return ShiftList(
            timezone=settings.timezone,
            shifts=[ShiftOut(name=s.name, start=s.start, end=s.end) for s in settings.shifts],
            current=current.shift if current else None,
            current_date=current.date.isoformat() if current and current.date else None,
        )

    @api.route("GET", "/history/alarms", role=Role.VIEWER, summary="Alarms of a window or shift, with transitions",
               tag="history", query=HistoryQuery, response=AlarmHistory)
    async def history(request: web.Request, query: HistoryQuery) -> AlarmHistory:
        """Alarms raised in the window (or raised before it and still open), newest first, filtered."""
        daemon = _daemon(request)
        window = query_window(request, query.since, query.until, query.shift, query.date)
        return await read(daemon.config.storage.path, lambda conn: alarm_history(conn, window, query))

    @api.route("GET", "/history/alarms.csv", role=Role.VIEWER, summary="The same alarm history as a CSV file",
               tag="history", query=HistoryQuery, produces="text/csv")
    async def history_csv(request: web.Request, query: HistoryQuery) -> web.Response:
        """One row per alarm, times in the site's time zone; text cells are guarded against formula injection."""
        daemon = _daemon(request)
        window = query_window(request, query.since, query.until, query.shift, query.date)
        found = await read(daemon.config.storage.path, lambda conn: alarm_history(conn, window, query))
        calendar = ShiftCalendar(daemon.config.dashboard)
        name = csv_filename(daemon.config.site.id, window, calendar.tz)
        return web.Response(
            text=alarms_csv(found, calendar.tz), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @api.route("GET", "/reports/exposure", role=Role.VIEWER, summary="A worker's gas exposure over a window",
               tag="history", query=ExposureQuery, response=ExposureReport, errors=(404,))
    async def exposure(request: web.Request, query: ExposureQuery) -> ExposureReport:
        """Per gas: minutes with data, 8-hour TWA equivalent, STEL peak, highest minute, limits and alarms."""
        daemon = _daemon(request)
        config = daemon.config
        worker = next((w for w in config.workers if w.id == query.worker), None)
        if worker is None:
            raise ApiError(404, f"unknown worker {query.worker!r}")
        window = query_window(request, query.since, query.until, query.shift, query.date)
        subject = str(worker_subject(worker.id))
        rows, counts = await read(config.storage.path, lambda conn: (
            exposure_minutes(conn, worker.id, window), alarm_counts(conn, subject, window)))
        detector = next((d for d in config.detectors if d.id == worker.detector), None)
        gases = [g.value for g in detector.gases] if detector else []
        set_points = {g.value: sp for g, sp in config.gas.set_points.items()}
        return ExposureReport(
            worker=worker.id, name=worker.name, since=window.since, until=window.until,
            timezone=config.dashboard.timezone,
            gases=exposure_lines(gases, rows, counts, set_points, config.gas.exposure),
        )


def query_window(
    request: web.Request, since: float | None, until: float | None, shift: str | None, day: str | None
) -> Window:
    """The window a query names (see ShiftCalendar.resolve); 400 when it names none that can be read."""
    for name, ts in (("since", since), ("until", until)):
        if ts is not None and not 0 <= ts <= LATEST_TS:  # NaN fails every comparison
            raise ApiError(400, f"{name} must be a UNIX time from 1970 to 9999", [f"{name}={ts!r}"])
    daemon = _daemon(request)
    try:
        return ShiftCalendar(daemon.config.dashboard).resolve(daemon.clock(), since=since, until=until, shift=shift,
                                                              day=day)
    except WindowError as exc:
        raise ApiError(400, str(exc)) from None


def _daemon(request: web.Request) -> DashboardRuntime:
    return cast("DashboardRuntime", request.app[DAEMON])

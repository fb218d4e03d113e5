"""Alarm history as CSV for spreadsheets: one row per alarm, times in the site's zone.

Supervisors open these files in spreadsheet programs, which run a cell that
starts with ``= + - @`` (or a tab / carriage return) as a formula; alarm
messages and notes carry text from devices and people, so every text cell
starting that way is prefixed with ``'`` (OWASP's CSV-injection advice).
Numbers are written by this module and need no guard.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from cloud_sync.contract.records import AlarmRecord
from edge_runtime.alarms.model import TransitionCause

from .schemas import AlarmHistory, TransitionOut
from .shifts import Window

COLUMNS = (
    "alarm_id", "raised", "updated", "kind", "priority", "subject", "zone", "state", "message", "value", "threshold",
    "acked_by", "acked_via", "acked_ts", "verdict", "verdict_by", "verdict_via", "note", "shelved_by", "shelved_via",
    "shelve_reason",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NOTED = frozenset({TransitionCause.ACKNOWLEDGED.value, TransitionCause.VERDICT.value})


def safe_cell(value: object) -> str | float:
    """A cell value a spreadsheet will not run: text starting like a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, float | int):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def alarms_csv(history: AlarmHistory, tz: ZoneInfo) -> str:
    """The CSV text (header row first) of the history's alarms, in its order."""
    by_alarm: dict[str, list[TransitionOut]] = {}
    for t in history.transitions:
        by_alarm.setdefault(t.alarm_id, []).append(t)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows([safe_cell(v) for v in _row(a, by_alarm.get(a.alarm_id, ()), tz)] for a in history.alarms)
    return out.getvalue()


def csv_filename(site_id: str, window: Window, tz: ZoneInfo) -> str:
    """e.g. ``siteguard-demo-site-alarms-2026-03-02T0600-2026-03-02T1800.csv`` (local times)."""
    def stamp(ts: float) -> str:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%dT%H%M")

    return f"siteguard-{site_id}-alarms-{stamp(window.since)}-{stamp(window.until)}.csv"


def _row(a: AlarmRecord, transitions: Sequence[TransitionOut], tz: ZoneInfo) -> tuple[object, ...]:
    verdict = next((t for t in reversed(transitions) if t.cause == TransitionCause.VERDICT.value), None)
    notes = [t.note for t in transitions if t.cause in _NOTED and t.note]
    return (
        a.alarm_id, _iso(a.raised_ts, tz), _iso(a.updated_ts, tz), a.kind, a.priority, a.subject, a.zone, a.state,
        a.message, a.value, a.threshold, a.acked_by, a.acked_via, _iso(a.acked_ts, tz), a.verdict,
        verdict.by if verdict else None, verdict.channel if verdict else None, notes[-1] if notes else None,
        a.shelved_by, a.shelved_via, a.shelve_reason,
    )


def _iso(ts: float | None, tz: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")

"""Reads for history pages and reports: past alarms with their transitions, exposure minutes, alarm counts.

Each read runs on a short-lived query-only connection of its own
(:func:`read_once`): history pages are rare, and a long report must not queue
behind the facade's own reads. WAL lets them see the last commit without
waiting for the store process's writer. Records come back shaped like
``AlarmRecord``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .connection import ReadConnection
from .rows import alarm_record

T = TypeVar("T")
ALARM_FILTERS = ("kind", "priority", "subject", "verdict")  # alarms columns a history query may match
_TRANSITION_COLUMNS = 'alarm_id, ts, cause, from_state, to_state, "by", channel, note'


def read_once(db_path: Path, query: Callable[[ReadConnection], T]) -> T:
    """Run ``query`` on a fresh query-only connection to ``db_path`` (blocks: call it in a thread)."""
    conn = ReadConnection(db_path)
    try:
        return query(conn)
    finally:
        conn.close()


def alarm(conn: ReadConnection, alarm_id: str) -> dict[str, Any] | None:
    """The stored record of one alarm (closed ones included), or None."""
    rows = conn.query("SELECT * FROM alarms WHERE alarm_id = ?", (alarm_id,))
    return alarm_record(rows[0]) if rows else None


def alarms_in_window(
    conn: ReadConnection, since: float, until: float, filters: Mapping[str, object], limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alarms raised in [since, until), or raised before and still open, newest first, at most ``limit``;
    and every transition of those alarms, oldest first. ``filters`` match ALARM_FILTERS columns exactly."""
    where = ["raised_ts < ?", "(raised_ts >= ? OR state <> 'normal')"]
    params: list[object] = [until, since]
    for name, value in filters.items():
        if name not in ALARM_FILTERS:
            raise ValueError(f"alarms cannot be filtered by {name!r}")
        where.append(f"{name} = ?")
        params.append(value)
    selected = f"SELECT alarm_id FROM alarms WHERE {' AND '.join(where)} ORDER BY raised_ts DESC, id DESC LIMIT ?"
    params.append(limit)
    alarms = conn.query(
        f"SELECT * FROM alarms WHERE alarm_id IN ({selected}) ORDER BY raised_ts DESC, id DESC", tuple(params)
    )
    transitions = conn.query(
        f"SELECT {_TRANSITION_COLUMNS} FROM transitions WHERE alarm_id IN ({selected}) ORDER BY ts, id",
        tuple(params),
    )
    return [alarm_record(row) for row in alarms], transitions


def exposure_minutes(conn: ReadConnection, worker: str, since: float, until: float) -> list[dict[str, Any]]:
    """The worker's stored minute values in [since, until): gas, minute_ts (start of the minute), value."""
    return conn.query(
        "SELECT gas, minute_ts, value FROM exposure_minutes WHERE worker = ? AND minute_ts >= ? AND minute_ts < ?"
        " ORDER BY minute_ts",
        (worker, since, until),
    )


def alarm_counts(conn: ReadConnection, subject: str, since: float, until: float) -> dict[str, int]:
    """Alarms raised in [since, until) on ``subject``, counted per condition (e.g. ``gas:H2S``: 2)."""
    rows = conn.query(
        "SELECT condition, count(*) AS n FROM alarms WHERE subject = ? AND raised_ts >= ? AND raised_ts < ?"
        " GROUP BY condition",
        (subject, since, until),
    )
    return {row["condition"]: int(row["n"]) for row in rows}

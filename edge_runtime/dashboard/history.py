"""Reads of past alarms, their transitions and workers' exposure minutes from the store's file.

Each read runs in a worker thread (:func:`read`) on a short-lived query-only
connection of its own: history pages are rare, and a long report must neither
block the event loop nor queue behind the store's own reads. WAL lets them see
the last commit without waiting for the writer.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edge_runtime.store.connection import ReadConnection
from edge_runtime.store.rows import alarm_record

from .schemas import AlarmHistory, AlarmOut, HistoryQuery, TransitionOut
from .shifts import Window

T = TypeVar("T")
_FILTERS = ("kind", "priority", "subject", "verdict")  # HistoryQuery fields that are alarms columns


async def read(db_path: Path, query: Callable[[ReadConnection], T]) -> T:
    """Run ``query`` in a thread on a fresh query-only connection to ``db_path``."""

    def run() -> T:
        conn = ReadConnection(db_path)
        try:
            return query(conn)
        finally:
            conn.close()

    return await asyncio.to_thread(run)


def stored_alarm(conn: ReadConnection, alarm_id: str) -> AlarmOut | None:
    """The stored record of one alarm (closed ones included), or None."""
    rows = conn.query("SELECT * FROM alarms WHERE alarm_id = ?", (alarm_id,))
    return AlarmOut.model_validate(alarm_record(rows[0])) if rows else None


def alarm_history(conn: ReadConnection, window: Window, q: HistoryQuery) -> AlarmHistory:
    """Alarms raised in the window, or raised before it and still open, newest first, with every
    transition of those alarms (oldest first)."""
    where = ["raised_ts < ?", "(raised_ts >= ? OR state <> 'normal')"]
    params: list[object] = [window.until, window.since]
    for name in _FILTERS:
        value = getattr(q, name)
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    selected = f"SELECT alarm_id FROM alarms WHERE {' AND '.join(where)} ORDER BY raised_ts DESC, id DESC LIMIT ?"
    params.append(q.limit)
    alarms = conn.query(f"SELECT * FROM alarms WHERE alarm_id IN ({selected}) ORDER BY raised_ts DESC, id DESC",
                        tuple(params))
    transitions = conn.query(
        f'SELECT alarm_id, ts, cause, from_state, to_state, "by", note FROM transitions '
        f"WHERE alarm_id IN ({selected}) ORDER BY ts, id",
        tuple(params),
    )
    return AlarmHistory(
        since=window.since, until=window.until,
        alarms=[AlarmOut.model_validate(alarm_record(row)) for row in alarms],
        transitions=[TransitionOut.model_validate(row) for row in transitions],
    )


def exposure_minutes(conn: ReadConnection, worker: str, window: Window) -> list[dict[str, Any]]:
    """The worker's stored minute values in the window: gas, minute_ts (start of the minute), value."""
    return conn.query(
        "SELECT gas, minute_ts, value FROM exposure_minutes WHERE worker = ? AND minute_ts >= ? AND minute_ts < ?"
        " ORDER BY minute_ts",
        (worker, window.since, window.until),
    )


def alarm_counts(conn: ReadConnection, subject: str, window: Window) -> dict[str, int]:
    """Alarms raised in the window on ``subject``, counted per condition (e.g. ``gas:H2S``: 2)."""
    rows = conn.query(
        "SELECT condition, count(*) AS n FROM alarms WHERE subject = ? AND raised_ts >= ? AND raised_ts < ?"
        " GROUP BY condition",
        (subject, window.since, window.until),
    )
    return {row["condition"]: int(row["n"]) for row in rows}

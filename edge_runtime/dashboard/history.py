"""Past alarms, their transitions and workers' exposure minutes, for the history pages and reports.

The SQL lives in the store (``edge_runtime.store.history_queries``); this
module runs it off the event loop (:func:`read`) and shapes the answers as
the API's schemas.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cloud_sync.contract.records import AlarmRecord
from edge_runtime.store import history_queries
from edge_runtime.store.connection import ReadConnection
from edge_runtime.store.rows import stored_record

from .schemas import AlarmHistory, HistoryQuery, TransitionOut
from .shifts import Window

T = TypeVar("T")


async def read(db_path: Path, query: Callable[[ReadConnection], T]) -> T:
    """Run ``query`` in a thread on a fresh query-only connection to ``db_path``."""
    return await asyncio.to_thread(history_queries.read_once, db_path, query)


def stored_alarm(conn: ReadConnection, alarm_id: str) -> AlarmRecord | None:
    """The stored record of one alarm (closed ones included), or None."""
    record = history_queries.alarm(conn, alarm_id)
    return stored_record(record) if record is not None else None


def alarm_history(conn: ReadConnection, window: Window, q: HistoryQuery) -> AlarmHistory:
    """Alarms raised in the window, or raised before it and still open, newest first, with every
    transition of those alarms (oldest first)."""
    filters = {name: value for name in history_queries.ALARM_FILTERS if (value := getattr(q, name)) is not None}
    alarms, transitions = history_queries.alarms_in_window(conn, window.since, window.until, filters, q.limit)
    return AlarmHistory(
        since=window.since, until=window.until,
        alarms=[stored_record(record) for record in alarms],
        transitions=[TransitionOut.model_validate(row) for row in transitions],
    )


def exposure_minutes(conn: ReadConnection, worker: str, window: Window) -> list[dict[str, Any]]:
    """The worker's stored minute values in the window: gas, minute_ts (start of the minute), value."""
    return history_queries.exposure_minutes(conn, worker, window.since, window.until)


def alarm_counts(conn: ReadConnection, subject: str, window: Window) -> dict[str, int]:
    """Alarms raised in the window on ``subject``, counted per condition (e.g. ``gas:H2S``: 2)."""
    return history_queries.alarm_counts(conn, subject, window.since, window.until)

"""Dataset queries: rows of one synced table by device, site, time range, reading kind, alarm kind and verdict.

``alarm_kind`` and ``verdict`` filter the alarm tables through the alarm:
alarms by their own kind and verdict, transitions and verdicts by their
alarm's. Readings carry no alarm: for them these two filters are refused
rather than silently ignored.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, and_, select

from cloud_sync.contract.tables import table as table_spec
from cloud_sync.db.schema import DATA_TABLES, time_column

MAX_LIMIT = 10_000
_ALARM_LINKED = ("transitions", "verdicts", "zone_actions")


@dataclass(frozen=True, slots=True)
class Filters:
    device_id: str | None = None
    site: str | None = None
    since: float | None = None
    until: float | None = None
    kind: str | None = None  # a reading kind (readings) or an alarm kind (alarms, verdicts)
    alarm_kind: str | None = None
    verdict: str | None = None


def statement(table: str, filters: Filters, after_id: int = 0) -> Select[Any]:
    """The query for ``table`` under ``filters``, rows with ``id > after_id``, in id order."""
    table_spec(table)  # ValueError for a table that is not synced
    data = DATA_TABLES[table]
    when = data.c[time_column(table)]
    conditions = [data.c.id > after_id]
    if filters.device_id is not None:
        conditions.append(data.c.device_id == filters.device_id)
    if filters.site is not None:
        conditions.append(data.c.site == filters.site)
    if filters.since is not None:
        conditions.append(when >= filters.since)
    if filters.until is not None:
        conditions.append(when < filters.until)
    if filters.kind is not None:
        if "kind" not in data.c:
            raise ValueError(f"{table} has no kind")
        conditions.append(data.c.kind == filters.kind)
    if filters.alarm_kind is not None or filters.verdict is not None:
        conditions.append(_alarm_condition(table, filters))
    return select(data).where(and_(*conditions)).order_by(data.c.id)


def _alarm_condition(table: str, filters: Filters) -> Any:
    alarms = DATA_TABLES["alarms"]
    wanted = []
    if filters.alarm_kind is not None:
        wanted.append(alarms.c.kind == filters.alarm_kind)
    if filters.verdict is not None:
        wanted.append(alarms.c.verdict == filters.verdict)
    if table == "alarms":
        return and_(*wanted)
    if table not in _ALARM_LINKED:
        raise ValueError(f"{table} rows belong to no alarm: alarm_kind and verdict do not apply")
    data = DATA_TABLES[table]
    linked = select(alarms.c.alarm_id).where(alarms.c.device_id == data.c.device_id, *wanted)
    return data.c.alarm_id.in_(linked.scalar_subquery())


def search(engine: Engine, table: str, filters: Filters, limit: int = 500, after_id: int = 0
           ) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` rows and the cursor for the next page (None at the end)."""
    limit = max(1, min(limit, MAX_LIMIT))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(statement(table, filters, after_id).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more else None)


def pages(engine: Engine, table: str, filters: Filters, size: int) -> Iterator[list[dict[str, Any]]]:
    """Every matching row, ``size`` at a time (keyset paging: each page is one short query)."""
    after = 0
    while True:
        rows, cursor = search(engine, table, filters, size, after)
        if rows:
            yield rows
        if cursor is None:
            return
        after = cursor

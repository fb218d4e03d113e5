"""Exports of one table as Hive-partitioned Parquet or CSV files, written page by page."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Engine

from cloud_sync.db.schema import time_column

from .query import MAX_LIMIT, Filters, pages

Format = Literal["parquet", "csv"]


def export(engine: Engine, table: str, filters: Filters, out_dir: Path, fmt: Format = "parquet",
           progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every matching row under ``out_dir/<table>/site=…/date=…/``; returns the files written."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    written: list[Path] = []
    parts: dict[Path, int] = defaultdict(int)
    done = 0
    when = time_column(table)
    for page in pages(engine, table, filters, MAX_LIMIT):
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in page:
            groups[(row.pop("site"), _date(row[when]))].append(row)
        for (site, date), rows in groups.items():
            folder = out_dir / table / f"site={site}" / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{parts[folder]:05d}.{fmt}"
            parts[folder] += 1
            _write(_arrow(rows), path, fmt)
            written.append(path)
        done += len(page)
        if progress is not None:
            progress(done)
    return written


def _date(ts: float | None) -> str:
    return "unknown" if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).date().isoformat()


def _arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """Columns as Arrow arrays; JSON values (lists, objects) as their JSON text, bytes as binary."""
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in rows[0]}
    for name, values in columns.items():
        if any(isinstance(v, (dict, list)) for v in values):
            columns[name] = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
    return pa.table(columns)


def _write(table: pa.Table, path: Path, fmt: Format) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table.drop_columns([n for n in table.column_names
                                             if pa.types.is_binary(table.schema.field(n).type)]), path)

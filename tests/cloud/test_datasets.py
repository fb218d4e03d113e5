"""Dataset search and partitioned exports that pyarrow (and so DuckDB or Spark) reads back as they are."""
from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sqlalchemy import Engine

from cloud_sync.contract.batch import Batch
from cloud_sync.datasets import Filters, export, search
from cloud_sync.ingest import DeviceRef, Ingest
from tests.cloud.test_ingest import alarm, readings

DAY = 86_400.0


@pytest.fixture
def filled(cloud_engine: Engine) -> Engine:
    ingest = Ingest(cloud_engine)
    ingest.ingest(DeviceRef("edge-1", "site-a", "t"), Batch("edge-1", 0, (readings(1, 300), alarm(400, "normal"))), 1)
    ingest.ingest(DeviceRef("edge-2", "site-b", "t"), Batch("edge-2", 0, (readings(int(DAY), int(DAY) + 99),)), 1)
    return cloud_engine


def test_search_pages_and_filters(filled: Engine) -> None:
    rows, cursor = search(filled, "readings", Filters(site="site-a"), limit=200)
    assert len(rows) == 200 and cursor is not None
    rest, end = search(filled, "readings", Filters(site="site-a"), limit=200, after_id=cursor)
    assert len(rest) == 100 and end is None
    assert len(search(filled, "readings", Filters(since=DAY))[0]) == 100
    assert [r["alarm_id"] for r in search(filled, "alarms", Filters(alarm_kind="gas_high"))[0]] == ["a1"]
    with pytest.raises(ValueError, match="belong to no alarm"):
        search(filled, "readings", Filters(verdict="confirmed"))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_export_reads_back_as_a_hive_partitioned_dataset(filled: Engine, tmp_path: Path, fmt: str) -> None:
    seen: list[int] = []
    files = export(filled, "readings", Filters(), tmp_path, fmt, progress=seen.append)  # type: ignore[arg-type]
    assert seen[-1] == 400 and all(f.suffix == f".{fmt}" for f in files)
    dataset = ds.dataset(tmp_path / "readings", format=fmt, partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 400
    by_site = {site: 0 for site in ("site-a", "site-b")}
    for site in table.column("site").to_pylist():
        by_site[site] += 1
    assert by_site == {"site-a": 300, "site-b": 100}
    assert sorted({str(d) for d in table.column("date").to_pylist()}) == ["1970-01-01", "1970-01-02"]

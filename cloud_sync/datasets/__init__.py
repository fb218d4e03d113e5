"""The dataset store: search synced data, and export it as Hive-partitioned Parquet or CSV.

Exports are laid out ``<table>/site=<site>/date=<YYYY-MM-DD>/part-NNNNN.<ext>``
(the date of the table's time column, UTC), so DuckDB
(``read_parquet('…/**/*.parquet', hive_partitioning=true)``), Spark or
``pyarrow.dataset`` read an export directory directly. Rows are read and
written in bounded chunks: memory stays flat for millions of rows.
"""
from .query import Filters, search
from .export import export

__all__ = ["Filters", "export", "search"]

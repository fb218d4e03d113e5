"""SQLite persistence on the edge node (WAL, one writer thread, sqlite-utils migrations).

Modules, one job each: ``connection`` (pragmas, transactions, the read
connection), ``migrations`` (schema), ``rows`` (objects <-> rows), ``sampling``
(readings_sample_s), ``writer`` (the writer thread), ``budget`` (disk budget),
``outbox`` (sync high-water marks), ``stats``, and ``store`` (the facade).

Tables: ``readings`` (compact telemetry), ``exposure_minutes``, ``alarms`` (one
row per alarm, the published record), ``transitions`` (every change, who and
when), ``verdicts`` (supervisor labels for training), ``fusion_state`` (one
JSON blob), ``outbox`` (sync marks), ``_sqlite_migrations`` (schema version).
"""
from .errors import StoreError
from .outbox import OUTBOX_TABLES, Outbox
from .stats import StoreStats
from .store import Store

__all__ = ["OUTBOX_TABLES", "Outbox", "Store", "StoreError", "StoreStats"]

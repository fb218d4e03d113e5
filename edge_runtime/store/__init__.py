"""SQLite persistence on the edge node: WAL, one store process that owns the only writer, migrations.

Modules, one job each: ``connection`` (pragmas, transactions, the read
connection), ``migrations`` (schema), ``statements`` (shared statements, a
leaf), ``rows`` (objects <-> rows), ``sampling`` (readings_sample_s),
``producer`` (a process's channel to the store process), ``messages`` (what
travels on it), ``process`` (starting and stopping the store process),
``server`` (the store process itself), ``intake`` (batches -> rows there),
``writer`` (its writer thread), ``transactions`` (its commits), ``journal``
and ``spill`` (alarm writes held while the database fails), ``budget`` (disk
budget; ``thinning``: its stages for readings the cloud does not have),
``outbox`` (sync high-water marks, quarantined ranges), ``stats``, ``health`` (storage
health and its STORAGE_FAILED alarm), ``store`` (the facade), and the few
queries and tables the dashboard needs (``history_queries``,
``accounts_table``, ``zone_actions_table``).

Tables: ``readings`` (compact telemetry), ``exposure_minutes``, ``alarms`` (one
row per alarm, the published record), ``transitions`` (every change, who and
when), ``verdicts`` (supervisor labels for training), ``fusion_state`` (one
JSON blob), ``outbox`` (sync marks), ``accounts``, ``zone_actions``,
``snapshots`` (camera snapshots for the snapshots lane), ``sync_quarantine``
(ranges the cloud refused), ``budget_cursors`` (how far the budget's scans of
unsynced readings got), ``spill_replayed`` (how far each spill file is
replayed), ``_sqlite_migrations`` (schema version).
"""
from .errors import StoreError
from .outbox import Outbox
from .producer import ProducerAddress, StoreProducer
from .statements import OUTBOX_TABLES
from .stats import StoreStats
from .store import Store

__all__ = ["OUTBOX_TABLES", "Outbox", "ProducerAddress", "Store", "StoreError", "StoreProducer", "StoreStats"]

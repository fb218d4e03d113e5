"""The migrations build exactly the schema the code declares, on SQLite and on PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import cloud_sync.db.schema  # noqa: F401
import cloud_sync.labels.tables  # noqa: F401
import cloud_sync.registry.tables  # noqa: F401
import cloud_sync.rollout.tables  # noqa: F401
from cloud_sync.contract.tables import TABLES
from cloud_sync.db.metadata import metadata
from cloud_sync.db.migrate import current


def test_migrations_match_the_tables(cloud_engine: Engine) -> None:
    with cloud_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert current(cloud_engine)


def test_every_synced_table_has_a_data_table_with_its_record_fields() -> None:
    for name, spec in TABLES.items():
        columns = set(metadata.tables[name].columns.keys())
        assert set(spec.columns) <= columns, name
        assert {"device_id", "site", "edge_id", "flags"} <= columns

"""Alembic environment: runs on the connection ``migrate.upgrade`` hands over (no alembic.ini, no URL here)."""
from __future__ import annotations

from alembic import context

import cloud_sync.db.schema  # noqa: F401  (registers the data tables)
import cloud_sync.labels.tables  # noqa: F401  (registers the hard-example labels)
import cloud_sync.registry.tables  # noqa: F401  (registers the registry tables)
import cloud_sync.model_registry.tables  # noqa: F401  (registers the model registry's tables)
import cloud_sync.training.tables  # noqa: F401  (registers the training tables)
from cloud_sync.db.metadata import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()

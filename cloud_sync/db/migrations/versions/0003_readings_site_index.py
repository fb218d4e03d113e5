"""Readings keep one time index (per device): the per-site one goes.

Every index is written once per stored row and readings are most of the
rows, so each index is a large share of ingest's cost. Dataset pages walk
the rows in id order (keyset paging), which finds a site's readings without
an index of their own; a device and time range still has its index.

Revision ID: 0003_readings_site_index
Revises: 0002_registry
"""
from __future__ import annotations

from alembic import op

revision = "0003_readings_site_index"
down_revision = "0002_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_readings_site_time", table_name="readings")


def downgrade() -> None:
    op.create_index("ix_readings_site_time", "readings", ["site", "ts"], unique=False)

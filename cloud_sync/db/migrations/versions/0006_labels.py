"""Labels of the camera's hard examples (cloud_sync.labels), append-only by revision.

Spelled out (not read from cloud_sync.labels.tables), so this revision creates
the same schema whatever later code says; tests/cloud/test_labels.py compares
the migrated schema with the tables module.

Revision ID: 0006_labels
Revises: 0002_registry
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_labels"
down_revision = "0002_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_labels",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_snapshot_labels"),
        sa.UniqueConstraint("snapshot_id", "revision", name="uq_snapshot_labels_snapshot_id_revision"),
    )
    op.create_index("ix_snapshot_labels_snapshot_id_id", "snapshot_labels", ["snapshot_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_snapshot_labels_snapshot_id_id", table_name="snapshot_labels")
    op.drop_table("snapshot_labels")

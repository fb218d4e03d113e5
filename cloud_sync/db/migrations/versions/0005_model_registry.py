"""The model registry: versions with lineage, aliases and their history, what ran on which device when.

Spelled out table by table (not read from cloud_sync.model_registry.tables),
so this revision creates the same schema whatever later code says; test_db
compares the migrated schema with the tables module. Branches from
0002_registry as its own head (migrate.upgrade goes to every head).

``model_activity`` and ``model_alias_history`` get triggers that refuse
UPDATE and DELETE: they are the record, appended to and never rewritten.

Revision ID: 0005_model_registry
Revises: 0002_registry
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_model_registry"
down_revision = "0002_registry"
branch_labels = None
depends_on = None

NAME = sa.String(128)
VERSION = sa.String(64)
WHO = sa.String(200)
APPEND_ONLY = ("model_activity", "model_alias_history")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", VERSION, nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("data_snapshot_id", sa.String(200), nullable=True),
        sa.Column("parent_version", VERSION, nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("package_path", sa.Text(), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("created_by", WHO, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", NAME, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", VERSION, nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("updated_by", WHO, nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"],
                                name="fk_model_aliases_name_model_versions"),
    )
    op.create_table(
        "model_alias_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", VERSION, nullable=False),
        sa.Column("previous_version", VERSION, nullable=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("by", WHO, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_alias_history"),
    )
    op.create_index("ix_model_alias_history_name_alias", "model_alias_history", ["name", "alias", "id"])
    op.create_table(
        "model_activity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=True),
        sa.Column("version", VERSION, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("from_ts", sa.Float(), nullable=False),
        sa.Column("reported_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_activity"),
        sa.UniqueConstraint("device_id", "slot", "seq", name="uq_model_activity_device_id_slot_seq"),
    )
    op.create_index("ix_model_activity_at", "model_activity", ["device_id", "slot", "from_ts", "seq"])
    for table in APPEND_ONLY:
        _refuse_changes(table)


def _refuse_changes(table: str) -> None:
    """Triggers that abort any UPDATE or DELETE of ``table``."""
    message = f"{table} is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    for name in ("model_activity", "model_alias_history", "model_aliases", "model_versions"):
        op.drop_table(name)  # SQLite drops a table's triggers with it

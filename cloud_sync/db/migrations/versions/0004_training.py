"""Training: pipelines, their jobs and the jobs' log lines.

Spelled out table by table (not read from cloud_sync.training.tables), so this
revision creates the same schema whatever later code says; the training tests
compare the migrated schema with the tables module. A branch of its own from
0002_registry: ``migrate.upgrade`` goes to every head.

Revision ID: 0004_training
Revises: 0002_registry
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_training"
down_revision = "0002_registry"
branch_labels = None
depends_on = None

ID = sa.String(64)
JOB_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.Float(53)


def upgrade() -> None:
    op.create_table(
        "training_pipelines",
        sa.Column("name", ID, nullable=False),
        sa.Column("kind", ID, nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("triggers", sa.JSON(), nullable=False),
        sa.Column("created_ts", TS, nullable=False),
        sa.Column("updated_ts", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_training_pipelines"),
    )
    op.create_table(
        "training_jobs",
        sa.Column("id", JOB_ID, autoincrement=True, nullable=False),
        sa.Column("pipeline", ID, nullable=False),
        sa.Column("kind", ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("data_snapshot_id", sa.String(200), nullable=True),
        sa.Column("parent_version", sa.String(200), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("eligible_ts", TS, nullable=False),
        sa.Column("created_ts", TS, nullable=False),
        sa.Column("started_ts", TS, nullable=True),
        sa.Column("ended_ts", TS, nullable=True),
        sa.Column("duration_s", TS, nullable=True),
        sa.Column("progress", TS, nullable=False),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_jobs"),
        sa.ForeignKeyConstraint(["pipeline"], ["training_pipelines.name"],
                                name="fk_training_jobs_pipeline_training_pipelines"),
    )
    op.create_index("ix_training_jobs_pipeline_created", "training_jobs", ["pipeline", "created_ts"])
    op.create_index("ix_training_jobs_state", "training_jobs", ["state"])
    op.create_index("ux_training_jobs_active", "training_jobs", ["pipeline"], unique=True,
                    sqlite_where=sa.text("ended_ts IS NULL"), postgresql_where=sa.text("ended_ts IS NULL"))
    op.create_table(
        "training_logs",
        sa.Column("id", JOB_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", JOB_ID, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_logs"),
        sa.ForeignKeyConstraint(["job_id"], ["training_jobs.id"], ondelete="CASCADE",
                                name="fk_training_logs_job_id_training_jobs"),
    )
    op.create_index("ix_training_logs_job", "training_logs", ["job_id", "id"])


def downgrade() -> None:
    for name in ("training_logs", "training_jobs", "training_pipelines"):
        op.drop_table(name)

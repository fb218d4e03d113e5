"""Model rollouts (cloud_sync.rollout): rollouts, their target devices, their append-only events, pinned
versions, and each device's latest update report.

Spelled out table by table (not read from cloud_sync.rollout.tables), so this
revision creates the same schema whatever later code says; test_db compares
the migrated schema with the tables module. Branches from 0005_model_registry
as its own head (migrate.upgrade goes to every head). ``rollout_events`` gets
triggers that refuse UPDATE and DELETE, like the registry's activity record.

Revision ID: 0007_rollout
Revises: 0005_model_registry
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_rollout"
down_revision = "0005_model_registry"
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(128)
VERSION = sa.String(64)
WHO = sa.String(200)
EVENTS = "rollout_events"


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", ID, nullable=False),
        sa.Column("slot", sa.String(16), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", VERSION, nullable=False),
        sa.Column("baseline_version", VERSION, nullable=True),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("canary_share", sa.Float(), nullable=False),
        sa.Column("healthy_period_s", sa.Float(), nullable=False),
        sa.Column("min_confirmed_alarms", sa.Integer(), nullable=False),
        sa.Column("shadow_s", sa.Float(), nullable=False),
        sa.Column("watch_s", sa.Float(), nullable=False),
        sa.Column("latency_budget_ms", sa.Float(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", WHO, nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("promoted_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_index("ix_rollouts_state", "rollouts", ["state"])
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("device_type", ID, nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("active_version", VERSION, nullable=True),
        sa.Column("activated_ts", sa.Float(), nullable=True),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("rolled_back_reason", sa.Text(), nullable=True),
        sa.Column("reported_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("rollout_id", "device_id", name="pk_rollout_devices"),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"], name="fk_rollout_devices_rollout_id_rollouts"),
    )
    op.create_index("ix_rollout_devices_device_id", "rollout_devices", ["device_id", "rollout_id"])
    op.create_table(
        EVENTS,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", ID, nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("by", WHO, nullable=False),
        sa.Column("device_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_events"),
    )
    op.create_index("ix_rollout_events_rollout_id", EVENTS, ["rollout_id", "id"])
    op.create_table(
        "model_pins",
        sa.Column("slot", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", VERSION, nullable=False),
        sa.Column("set_by", WHO, nullable=False),
        sa.Column("set_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("slot", "scope", "key", name="pk_model_pins"),
    )
    op.create_table(
        "device_reports",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("received_ts", sa.Float(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_reports"),
    )
    message = f"{EVENTS} is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION {EVENTS}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        op.execute(f"CREATE TRIGGER {EVENTS}_append_only BEFORE UPDATE OR DELETE ON {EVENTS} "
                   f"FOR EACH ROW EXECUTE FUNCTION {EVENTS}_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {EVENTS}_no_{action.lower()} BEFORE {action} ON {EVENTS} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_append_only ON {EVENTS}")
        op.execute(f"DROP FUNCTION IF EXISTS {EVENTS}_append_only()")
    for name in ("device_reports", "model_pins", EVENTS, "rollout_devices", "rollouts"):
        op.drop_table(name)  # SQLite drops a table's triggers with it

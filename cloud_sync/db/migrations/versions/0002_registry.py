"""The registry: devices, their keys, heartbeats and seen nonces; admin accounts, sessions, tokens, sign-ins.

Spelled out table by table (not read from cloud_sync.registry.tables), so this
revision creates the same schema whatever later code says; the registry test
compares the migrated schema with the tables module.

Revision ID: 0002_registry
Revises: 0001_data
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_registry"
down_revision = "0001_data"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", ID, nullable=False),
        sa.Column("site", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("device_type", ID, nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("decommissioned_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    op.create_index("ix_devices_site", "devices", ["site"])
    op.create_table(
        "device_keys",
        sa.Column("key_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=True),
        sa.Column("revoked_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_device_keys"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_device_keys_device_id_devices"),
    )
    op.create_index("ix_device_keys_device_id", "device_keys", ["device_id"])
    op.create_table(
        "device_heartbeats",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("received_ts", sa.Float(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_heartbeats"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_device_heartbeats_device_id_devices"),
    )
    op.create_table(
        "device_nonces",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "nonce", name="pk_device_nonces"),
    )
    op.create_index("ix_device_nonces_expires_ts", "device_nonces", ["expires_ts"])
    op.create_table(
        "admin_accounts",
        sa.Column("name", ID, nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_admin_accounts"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("account", ID, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("last_seen_ts", sa.Float(), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_admin_sessions"),
        sa.ForeignKeyConstraint(["account"], ["admin_accounts.name"], ondelete="CASCADE",
                                name="fk_admin_sessions_account_admin_accounts"),
    )
    op.create_index("ix_admin_sessions_account", "admin_sessions", ["account"])
    op.create_index("ix_admin_sessions_expires_ts", "admin_sessions", ["expires_ts"])
    op.create_table(
        "admin_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("last_used_ts", sa.Float(), nullable=True),
        sa.Column("revoked_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_admin_tokens_token_sha256"),
    )
    op.create_table(
        "signin_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signin_attempts"),
    )
    op.create_index("ix_signin_attempts_ts", "signin_attempts", ["ts"])
    op.create_index("ix_signin_attempts_account", "signin_attempts", ["account", "ts"])
    op.create_index("ix_signin_attempts_address", "signin_attempts", ["address", "ts"])


def downgrade() -> None:
    for name in ("signin_attempts", "admin_tokens", "admin_sessions", "admin_accounts", "device_nonces",
                 "device_heartbeats", "device_keys", "devices"):
        op.drop_table(name)

"""The registry's tables, on the cloud schema's one ``MetaData`` (migration ``0002_registry`` creates them).

Times are Unix seconds (float), as in the synced records. Secrets are never
stored: a device key as its public half, a session or API token as its SHA-256,
a password as its argon2id hash.
"""
from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from cloud_sync.db.metadata import metadata

ID = String(64)  # the contract's ids: 1-64 of A-Z a-z 0-9 _ -

devices = Table(
    "devices", metadata,
    Column("id", ID, primary_key=True),
    Column("site", ID, nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("device_type", ID, nullable=False),
    Column("profile", JSON, nullable=False),  # a profile.HardwareProfile
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("decommissioned_ts", Float),  # set: refused (403), its data kept
)

device_keys = Table(
    "device_keys", metadata,
    Column("key_id", ID, primary_key=True),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False, index=True),
    Column("public_key", String(64), nullable=False),  # base64url of the raw Ed25519 public key
    Column("created_ts", Float, nullable=False),
    Column("expires_ts", Float),  # set when a rotation left it working for an overlap
    Column("revoked_ts", Float),  # set: refused at once
)

device_heartbeats = Table(
    "device_heartbeats", metadata,  # the latest heartbeat of each device
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("received_ts", Float, nullable=False),  # the server's clock: online/offline reads this
    Column("ts", Float, nullable=False),  # the device's clock
    Column("interval_s", Float, nullable=False),
    Column("body", JSON, nullable=False),  # a heartbeats.Heartbeat
)

device_nonces = Table(
    "device_nonces", metadata,  # a nonce is kept until its request's timestamp is stale anyway
    Column("device_id", ID, primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("expires_ts", Float, nullable=False, index=True),
)

admin_accounts = Table(
    "admin_accounts", metadata,
    Column("name", ID, primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_ts", Float, nullable=False),
)

admin_sessions = Table(
    "admin_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("account", ID, ForeignKey("admin_accounts.name", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("last_seen_ts", Float, nullable=False),
    Column("expires_ts", Float, nullable=False, index=True),
)

admin_tokens = Table(
    "admin_tokens", metadata,
    Column("id", ID, primary_key=True),
    Column("label", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("last_used_ts", Float),
    Column("revoked_ts", Float),
)

signin_attempts = Table(
    "signin_attempts", metadata,  # failed or pending sign-ins, counted by the throttle
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(200), nullable=False),
    Column("address", String(200), nullable=False),
    Column("ts", Float, nullable=False, index=True),
    Index(None, "account", "ts"),
    Index(None, "address", "ts"),
)

TABLES = (devices, device_keys, device_heartbeats, device_nonces, admin_accounts, admin_sessions, admin_tokens,
          signin_attempts)

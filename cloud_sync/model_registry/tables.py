"""The model registry's tables, on the cloud schema's one ``MetaData`` (migration ``0005_model_registry``).

Times are Unix seconds (float). ``model_activity`` and ``model_alias_history``
are append-only: the code only inserts into them, and the migration adds
triggers on both dialects that refuse an UPDATE or DELETE, so the record of
what ran where stays what was reported. Their ``seq`` per (device, slot)
is unique, so two replicas handling the same device's heartbeats at once
cannot append the same change twice (the loser re-reads and retries).
"""
from __future__ import annotations

from sqlalchemy import (
    JSON, Column, Float, ForeignKeyConstraint, Index, Integer, String, Table, Text, UniqueConstraint,
)

from cloud_sync.db.metadata import metadata

NAME = String(128)  # the manifest's model name
VERSION = String(64)
DEVICE = String(64)  # the contract's device ids
SLOT = String(64)  # a camera id, or "risk"
SHA256 = String(64)
WHO = String(200)  # an admin session's name, a token's "token:<id>", a pipeline

model_versions = Table(
    "model_versions", metadata,
    Column("name", NAME, primary_key=True),
    Column("version", VERSION, primary_key=True),
    Column("task", String(32), nullable=False),
    Column("run_id", String(200)),  # the training run / job that made it
    Column("data_snapshot_id", String(200)),  # the data it was trained on
    Column("parent_version", VERSION),
    Column("metrics", JSON, nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("manifest_sha256", SHA256, nullable=False),  # of the canonical (signed) manifest bytes
    Column("package_path", Text, nullable=False),  # relative to the registry's store directory
    Column("created_ts", Float, nullable=False),
    Column("created_by", WHO, nullable=False),
)

model_aliases = Table(
    "model_aliases", metadata,
    Column("name", NAME, primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", VERSION, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("updated_by", WHO, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

model_alias_history = Table(
    "model_alias_history", metadata,  # append-only: every move of every alias
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", NAME, nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", VERSION, nullable=False),
    Column("previous_version", VERSION),
    Column("ts", Float, nullable=False),
    Column("by", WHO, nullable=False),
    Index("ix_model_alias_history_name_alias", "name", "alias", "id"),
)

model_activity = Table(
    "model_activity", metadata,  # append-only: a row when a device's slot changed model
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", DEVICE, nullable=False),
    Column("slot", SLOT, nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, ... per (device, slot)
    Column("name", NAME),  # all three null: the slot stopped reporting a model
    Column("version", VERSION),
    Column("sha256", SHA256),
    Column("from_ts", Float, nullable=False),  # the device's clock: when its report first showed this
    Column("reported_ts", Float, nullable=False),  # the server's clock: when that report arrived
    UniqueConstraint("device_id", "slot", "seq"),
    # "what ran on device X at time T": per slot, the newest row with from_ts <= T is one index seek
    Index("ix_model_activity_at", "device_id", "slot", "from_ts", "seq"),
)

APPEND_ONLY = ("model_activity", "model_alias_history")

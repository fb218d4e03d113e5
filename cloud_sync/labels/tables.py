"""The label table, on the cloud schema's one ``MetaData`` (migration ``0006_labels`` creates it).

Append-only: each change of a frame's label is a new revision, so who said
what about a training image stays on record; the newest revision counts.
"""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, String, Table, UniqueConstraint

from cloud_sync.db.metadata import metadata

snapshot_labels = Table(
    "snapshot_labels", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("snapshot_id", BigInteger, nullable=False),  # snapshots.id
    Column("revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # accepted | corrected | deleted
    Column("boxes", JSON, nullable=False),  # [{"label", "x1", "y1", "x2", "y2"}], 0..1 of the image
    Column("by", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    UniqueConstraint("snapshot_id", "revision"),
    Index("ix_snapshot_labels_snapshot_id_id", "snapshot_id", "id"),
)

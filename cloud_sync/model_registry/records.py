"""What the registry answers: versions, their lineage, aliases, and what ran on a device.

Pydantic models, so the admin API serialises and documents them as they are.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field


class ModelVersion(BaseModel):
    """One registered, verified package version; immutable once registered."""

    name: str
    version: str
    task: str
    run_id: Optional[str] = Field(None, description="the training run / job that made it")
    data_snapshot_id: Optional[str] = Field(None, description="the data snapshot it was trained on")
    parent_version: Optional[str] = None
    metrics: dict[str, float]
    manifest: dict[str, Any]
    manifest_sha256: str = Field(description="sha256 of the canonical manifest, the bytes the signature covers")
    package_path: str = Field(description="the stored package, relative to the registry's store directory")
    created_ts: float
    created_by: str


class LineageStep(BaseModel):
    """One generation of a model's ancestry: the version, and the run and data that made it."""

    version: str
    registered: bool = Field(description="false: a parent the manifest names but this registry never got")
    run_id: Optional[str] = None
    data_snapshot_id: Optional[str] = None
    parent_version: Optional[str] = None
    created_ts: Optional[float] = None
    created_by: Optional[str] = None
    metrics: dict[str, float] = {}


class Alias(BaseModel):
    alias: str
    version: str
    updated_ts: float
    updated_by: str


class AliasChange(BaseModel):
    """One move of an alias (the history is append-only)."""

    alias: str
    version: str
    previous_version: Optional[str]
    ts: float
    by: str


class ModelRef(BaseModel):
    """A model as a device reports it in a heartbeat slot."""

    name: str
    version: str
    sha256: Optional[str] = None


class ActiveModel(BaseModel):
    """What one slot of a device was running at a time, and what trained it."""

    slot: str
    name: str
    version: str
    sha256: Optional[str]
    from_ts: float = Field(description="the device's clock: when its first report of this model was made")
    reported_ts: float = Field(description="the server's clock: when that report arrived")
    registered: bool = Field(description="whether this registry holds the version")
    sha256_matches: Optional[bool] = Field(
        None, description="whether the reported sha256 is the registered manifest's or one of its artifacts'; "
                          "null when nothing to compare")
    lineage: list[LineageStep] = Field(description="the version first, then its parents")

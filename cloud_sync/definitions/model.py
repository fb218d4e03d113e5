"""Collected-data definitions: per device type, the fields a device sends, with type, unit and allowed range.

A definition names, per synced table, each record field's type and range,
and for readings, per ``kind``, what ``v1..v3`` mean (unit and range). Ingest
checks every batch against the device type's definition and records what
does not match as schema skew, without refusing the data.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["float", "int", "bool", "str", "json", "bytes"]


class FieldDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: FieldType
    unit: Optional[str] = None
    min: Optional[float] = None
    max: Optional[float] = None
    required: bool = False

    @model_validator(mode="after")
    def _range(self) -> FieldDef:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if (self.min is not None or self.max is not None) and self.type not in ("float", "int"):
            raise ValueError(f"a range needs a numeric type, not {self.type}")
        return self


class DataDefinition(BaseModel):
    """What one device type sends: per table its fields, per reading kind its values."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tables: dict[str, dict[str, FieldDef]] = Field(description="table -> field -> definition")
    readings: dict[str, dict[Literal["v1", "v2", "v3"], FieldDef]] = Field(
        default_factory=dict, description="reading kind -> v1..v3 -> definition (unit and range)")

"""Site geometry: the site origin, zones (polygons in site metres) and positions."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import StrictModel


class SiteInfo(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Used in every MQTT topic")
    name: str = ""
    origin_lat: float = Field(ge=-90, le=90, description="Latitude of site (0,0) in metres")
    origin_lon: float = Field(ge=-180, le=180)


class Zone(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = ""
    hazard: Literal["general", "confined_space", "restricted", "crane_radius", "hot_work"] = "general"
    polygon: tuple[tuple[float, float], ...] = Field(description="(x east, y north) metres from the origin")
    siren: bool = Field(True, description="The zone has a siren on the controller")
    attendant: str | None = Field(None, description="Worker id of the confined-space attendant")
    authorised: tuple[str, ...] = Field((), description="Workers allowed in a restricted zone")
    dwell_s: float = Field(5.0, ge=0, description="Time inside before the zone counts as entered")
    gas_monitor_required: bool | None = None

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(v) < 3:
            raise ValueError("a polygon needs at least 3 points")
        return v


class PositionSettings(StrictModel):
    stale_after_s: float = Field(10.0, gt=0)
    uere_m: float = Field(5.0, gt=0, description="User-equivalent range error for the hysteresis margin")
    hysteresis_factor: float = Field(2.0, ge=0, description="margin = factor × HDOP × UERE")
    max_margin_m: float = Field(15.0, gt=0)


class Equipment(StrictModel):
    """Heavy equipment with a fixed or tracked position (proximity rules)."""

    id: str
    name: str = ""
    position: tuple[float, float] | None = None
    gps: str | None = None


class ProximitySettings(StrictModel):
    advisory_m: float = 8.0
    critical_m: float = 3.0
    emergency_m: float = 1.0
    hysteresis_m: float = Field(
        0.5, ge=0, description="Leave a proximity band only this far beyond its edge, so GPS jitter cannot flap the priority"
    )

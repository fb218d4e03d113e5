"""Site geometry: the site origin, zones (polygons in site metres) and positions."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from edge_runtime.geometry import polygon_problem

from .base import ConfigError, Id, StrictModel

Point = tuple[float, float]


def _simple(points: tuple[Point, ...]) -> tuple[Point, ...]:
    """A zone must be a simple ring with an area, or its alarms would miss where it was drawn."""
    problem = polygon_problem(points)
    if problem:
        raise ValueError(problem)
    return points


SimplePolygon = Annotated[tuple[Point, ...], AfterValidator(_simple)]


class SiteInfo(StrictModel):
    id: Id = Field(description="Used in every MQTT topic")
    name: str = ""
    origin_lat: float = Field(ge=-90, le=90, description="Latitude of site (0,0) in metres")
    origin_lon: float = Field(ge=-180, le=180)


class Zone(StrictModel):
    id: Id = Field(description="Names the zone's siren topic")
    name: str = ""
    hazard: Literal["general", "confined_space", "restricted", "crane_radius", "hot_work"] = "general"
    polygon: SimplePolygon = Field(
        description="(x east, y north) metres from the origin: at least 3 distinct vertices, an area, no crossing edges"
    )
    siren: bool = Field(True, description="The zone has a siren on the controller")
    attendant: str | None = Field(None, description="Worker id of the confined-space attendant")
    authorised: tuple[str, ...] = Field((), description="Workers allowed in a restricted zone")
    dwell_s: float = Field(5.0, ge=0, description="Time inside before the zone counts as entered")
    gas_monitor_required: bool | None = None


class PositionSettings(StrictModel):
    stale_after_s: float = Field(10.0, gt=0)
    uere_m: float = Field(5.0, gt=0, description="User-equivalent range error for the hysteresis margin")
    hysteresis_factor: float = Field(2.0, ge=0, description="margin = factor × HDOP × UERE")
    max_margin_m: float = Field(15.0, gt=0)


class Equipment(StrictModel):
    """Heavy equipment with a fixed or tracked position (proximity rules)."""

    id: Id
    name: str = ""
    position: Point | None = None
    gps: Id | None = Field(None, description="GPS tag id of tracked equipment")


class ProximitySettings(StrictModel):
    """Distance bands to heavy equipment, nested: emergency inside critical inside advisory."""

    advisory_m: float = Field(8.0, gt=0)
    critical_m: float = Field(3.0, gt=0)
    emergency_m: float = Field(1.0, gt=0)
    hysteresis_m: float = Field(
        0.5, ge=0, description="Leave a proximity band only this far beyond its edge, so GPS jitter cannot flap the priority"
    )

    @model_validator(mode="after")
    def _bands_nest(self) -> ProximitySettings:
        """Out of order, a worker would pass the emergency band before the advisory one alarms."""
        if self.emergency_m >= self.critical_m:
            raise ConfigError([("emergency_m", f"must be below critical_m ({self.critical_m:g})")])
        if self.critical_m >= self.advisory_m:
            raise ConfigError([("critical_m", f"must be below advisory_m ({self.advisory_m:g})")])
        return self

"""Gas set points, exposure arithmetic and detector-fault settings (DOMAIN.md, Gas)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from firmware_bridge.readings import Gas

from .base import ConfigError, StrictModel


class GasSetPoints(StrictModel):
    """Alarm thresholds for one gas. ``direction`` says which way is dangerous:
    ``rising`` (toxic, combustible) or ``both`` (O2: low is deficiency, high enrichment)."""

    unit: str = Field(description="Unit the thresholds are in, e.g. ppm, %vol, %LEL")
    low: float = Field(description="Low alarm set point (for O2: deficiency below this)")
    high: float = Field(description="High alarm set point (for O2: enrichment above this)")
    twa: float | None = Field(None, description="Time-weighted average limit")
    stel: float | None = Field(None, description="Short-term exposure limit")
    direction: Literal["rising", "both"] = "rising"
    over_range: float | None = Field(None, description="Readings above this are over-range")

    @model_validator(mode="after")
    def _ordered(self) -> "GasSetPoints":
        if self.direction == "rising" and self.high < self.low:
            raise ConfigError([("high", f"must be >= low ({self.low:g})")])
        return self


def _default_set_points() -> dict[Gas, GasSetPoints]:
    # Industrial Scientific factory defaults; TWA/STEL from ACGIH (DOMAIN.md).
    return {
        Gas.O2: GasSetPoints(unit="%vol", low=19.5, high=23.5, direction="both", over_range=30.0),
        Gas.CO: GasSetPoints(unit="ppm", low=35, high=70, twa=35, stel=200, over_range=1000),
        Gas.H2S: GasSetPoints(unit="ppm", low=10, high=20, twa=10, stel=15, over_range=200),
        Gas.LEL: GasSetPoints(unit="%LEL", low=10, high=20, over_range=100),
    }


class ExposureSettings(StrictModel):
    twa_mode: Literal["cumulative", "moving"] = "cumulative"
    stel_window_min: int = Field(15, ge=5, le=15)
    twa_window_min: int = Field(480, ge=60, le=720, description="Shift length / moving window")
    max_stel_periods_per_shift: int = 4
    stel_rest_min: int = Field(
        60, ge=0, description="After a STEL excursion the worker should stay out this long; a new one sooner escalates"
    )
    shift_gap_min: int = Field(
        120, ge=1, description="A portable detector silent this long (switched off) starts a new shift: "
        "cumulative TWA and the STEL-period count reset, as an instrument's do at power-on"
    )


class GasFaultSettings(StrictModel):
    stale_after_s: float = Field(30.0, gt=0, description="No reading within this is a stale sensor")
    drift_fraction_of_low: float = Field(0.5, gt=0, description="Negative drift beyond this × low")
    bump_interval_h: float = Field(24.0, gt=0)
    calibration_interval_d: float = Field(180.0, gt=0)
    lel_poison_h2s_ppm: float = Field(200.0, gt=0)


class GasSettings(StrictModel):
    set_points: dict[Gas, GasSetPoints] = Field(
        default_factory=dict, description="Per-gas overrides; gases not named keep the factory defaults"
    )
    exposure: ExposureSettings = ExposureSettings()
    faults: GasFaultSettings = GasFaultSettings()
    mute_s: float = Field(60.0, gt=0, description="Mute silences for this long, then re-alarms")

    @model_validator(mode="after")
    def _merge_defaults(self) -> "GasSettings":
        object.__setattr__(self, "set_points", {**_default_set_points(), **self.set_points})
        return self

"""Workers, heart-rate, man-down and check-in settings (DOMAIN.md)."""
from __future__ import annotations

from pydantic import Field

from .base import Id, StrictModel


class Worker(StrictModel):
    id: Id = Field(description="Names the worker's alert topic")
    name: str
    age: int = Field(ge=14, le=90)
    wearable: Id | None = Field(
        None, description="Wearable id (HR, accelerometer, panic, vibration), worn by this worker only"
    )
    detector: Id | None = Field(None, description="Portable gas detector id, carried by this worker only")
    gps: Id | None = Field(None, description="GPS tag id, on this worker only")
    role: str = "worker"
    lone_worker: bool = False
    authorised_zones: tuple[str, ...] = ()


class HeartRateSettings(StrictModel):
    high_offset: int = Field(180, description="Sustained HR above (this - age) is heat strain")
    sustained_high_s: float = Field(300.0, gt=0)
    low_bpm: int = 40
    sustained_low_s: float = Field(600.0, gt=0)
    no_signal_s: float = Field(60.0, gt=0, description="No valid pulse this long = poor contact")


class FallSettings(StrictModel):
    free_fall_g: float = Field(0.45, gt=0, lt=1)
    impact_g: float = Field(2.5, gt=1)
    impact_within_s: float = Field(1.0, gt=0)
    inactivity_s: float = Field(5.0, gt=0)
    settle_s: float = Field(
        2.0, ge=0, description="Movement this soon after the impact (bounce, rolling) only restarts the inactivity wait; "
        "movement later means the worker got up"
    )


class ManDownSettings(StrictModel):
    no_motion_s: float = Field(120.0, ge=1, le=1800, description="30 s - 30 min on site; shorter for demos")
    motion_threshold_g: float = Field(0.15, gt=0, description="|a| deviating from 1 g by this is movement")
    cancel_window_s: float = Field(30.0, gt=0)
    fall: FallSettings = FallSettings()
    nearby_m: float = Field(
        30.0, ge=0, description="Workers whose fresh position is this close to a worker's last known position are "
        "alerted to that worker's man-down, panic or missed check-in (0 = nobody nearby is alerted)"
    )


class CheckInSettings(StrictModel):
    interval_s: float = Field(1800.0, gt=0)
    cancel_window_s: float = Field(30.0, gt=0)


class BatterySettings(StrictModel):
    low_percent: float = 10.0
    link_lost_s: float = Field(60.0, gt=0, description="No telemetry this long = lost link")

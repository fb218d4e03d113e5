"""Alarm priorities and timings per kind (ISA-18.2 attributes), with site overrides."""
from __future__ import annotations

from pydantic import Field, model_validator

from edge_runtime.alarms.model import AlarmKind, Priority

from .base import ConfigError, StrictModel


class AlarmClass(StrictModel):
    """The ISA-18.2 attributes of one kind of alarm."""

    priority: Priority
    on_delay_s: float = Field(0.0, ge=0, description="Condition must persist this long before alarming")
    off_delay_s: float = Field(0.0, ge=0, description="Condition must be gone this long before clearing")
    deadband: float = Field(0.0, ge=0, description="Clear only this far back past the threshold")
    re_alarm_s: float | None = Field(None, gt=0, description="Re-announce if still unacknowledged")
    latching: bool = Field(False, description="Stays active until acknowledged and clear")


P = Priority
_DEFAULTS: dict[AlarmKind, AlarmClass] = {
    AlarmKind.GAS_LOW: AlarmClass(priority=P.MEDIUM, deadband=0.5, re_alarm_s=300),
    AlarmKind.GAS_HIGH: AlarmClass(priority=P.HIGH, deadband=0.5, re_alarm_s=120, latching=True),
    AlarmKind.GAS_STEL: AlarmClass(priority=P.HIGH, re_alarm_s=300, latching=True),
    AlarmKind.GAS_TWA: AlarmClass(priority=P.HIGH, re_alarm_s=600, latching=True),
    AlarmKind.GAS_OVER_RANGE: AlarmClass(priority=P.CRITICAL, re_alarm_s=60, latching=True),
    AlarmKind.GAS_DRIFT: AlarmClass(priority=P.LOW, on_delay_s=10),
    AlarmKind.GAS_SENSOR_STALE: AlarmClass(priority=P.MEDIUM),
    AlarmKind.GAS_BUMP_DUE: AlarmClass(priority=P.LOW),
    AlarmKind.GAS_CALIBRATION_DUE: AlarmClass(priority=P.LOW),
    AlarmKind.GAS_LEL_POISONED: AlarmClass(priority=P.MEDIUM, latching=True),
    AlarmKind.ZONE_GAS: AlarmClass(priority=P.HIGH, deadband=0.5, re_alarm_s=120, latching=True),
    AlarmKind.ZONE_EVACUATE: AlarmClass(priority=P.CRITICAL, re_alarm_s=60, latching=True),
    AlarmKind.HR_HIGH: AlarmClass(priority=P.MEDIUM, deadband=5, off_delay_s=30),
    AlarmKind.HR_LOW: AlarmClass(priority=P.LOW, deadband=3, off_delay_s=30),
    AlarmKind.HR_NO_SIGNAL: AlarmClass(priority=P.LOW),
    AlarmKind.NO_MOTION: AlarmClass(priority=P.HIGH, re_alarm_s=60, latching=True),
    AlarmKind.FALL: AlarmClass(priority=P.HIGH, re_alarm_s=60, latching=True),
    AlarmKind.MAN_DOWN: AlarmClass(priority=P.CRITICAL, re_alarm_s=30, latching=True),
    AlarmKind.PANIC: AlarmClass(priority=P.CRITICAL, re_alarm_s=30, latching=True),
    AlarmKind.CHECK_IN_MISSED: AlarmClass(priority=P.HIGH, re_alarm_s=120, latching=True),
    AlarmKind.LOW_BATTERY: AlarmClass(priority=P.LOW, deadband=2),
    AlarmKind.LINK_LOST: AlarmClass(priority=P.LOW),
    AlarmKind.NO_POSITION: AlarmClass(priority=P.LOW),
    AlarmKind.GEOFENCE: AlarmClass(priority=P.MEDIUM, off_delay_s=5),
    AlarmKind.PROXIMITY: AlarmClass(priority=P.MEDIUM, off_delay_s=2),
    AlarmKind.CAMERA_INTRUDER: AlarmClass(priority=P.HIGH, off_delay_s=5, re_alarm_s=120),
    AlarmKind.PPE_MISSING: AlarmClass(priority=P.MEDIUM, off_delay_s=5),
    AlarmKind.PERSON_DOWN: AlarmClass(priority=P.HIGH, re_alarm_s=60, latching=True),
    AlarmKind.CAMERA_OFFLINE: AlarmClass(priority=P.LOW, off_delay_s=5),
    # Alarms still sound without the database, but their history is only held: supervisors must know.
    AlarmKind.STORAGE_FAILED: AlarmClass(priority=P.MEDIUM, off_delay_s=5),
    # Sounded and silenced by a supervisor: the person who ends it acknowledges it, so no latch.
    AlarmKind.MANUAL_SIREN: AlarmClass(priority=P.HIGH),
}


class FloodSettings(StrictModel):
    count: int = Field(10, ge=2, description="This many alarms ...")
    window_s: float = Field(600.0, gt=0, description="... within this window is a flood")
    end_below: int | None = Field(
        None, ge=1, description="The flood ends when fewer than this many fall within the window "
        "(default: half of count); the gap keeps one steady stream from splitting into many floods"
    )

    @model_validator(mode="after")
    def _end_not_above_start(self) -> "FloodSettings":
        if self.end_below is not None and self.end_below > self.count:
            raise ConfigError([("end_below", f"must be <= count ({self.count})")])
        return self


class AlarmSettings(StrictModel):
    classes: dict[AlarmKind, AlarmClass] = Field(
        default_factory=dict, description="Per-kind overrides; missing kinds use the defaults"
    )
    flood: FloodSettings = FloodSettings()
    max_shelve_s: float = Field(8 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "AlarmSettings":
        merged = {**_DEFAULTS, **self.classes}
        object.__setattr__(self, "classes", merged)
        return self

    def for_kind(self, kind: AlarmKind) -> AlarmClass:
        return self.classes[kind]

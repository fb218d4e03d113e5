"""Sensor fusion: per-worker and per-zone state and the DOMAIN.md rules.

:class:`FusionEngine` turns :class:`~firmware_bridge.readings.Observation`s into
:class:`~edge_runtime.alarms.model.ConditionUpdate`s (and pre-alarms on the
wearable); the alarm engine runs the ISA-18.2 lifecycle on top. A condition is
reported when it changes (active, kind, priority, message or who is told), not
per reading; value/threshold/direction travel with it, and a falling value is
reported gone only past its kind's deadband, so the engine's check agrees.

Condition keys (subject, condition) -> kinds, escalating within one key:

=========  ============================  =============================================
subject    condition                     kinds
=========  ============================  =============================================
worker     gas:{gas}                     GAS_LOW -> GAS_HIGH -> GAS_OVER_RANGE
worker     stel:{gas} / twa:{gas}        GAS_STEL (one level up when against the
                                         excursion rules) / GAS_TWA
device     gas_fault:{gas}:drift         GAS_DRIFT
device     gas_fault:{gas}:stale         GAS_SENSOR_STALE (``all`` = whole detector)
device     gas_fault:{gas}:reported      GAS_SENSOR_STALE (detector fault, bad unit)
device     gas_fault:all:bump_due        GAS_BUMP_DUE
device     gas_fault:all:calibration_due GAS_CALIBRATION_DUE
device     gas_fault:LEL:poisoned        GAS_LEL_POISONED
zone       zone_gas:{gas}                ZONE_GAS (fixed detector; siren)
zone       evacuate                      ZONE_EVACUATE (two detectors; siren)
worker     hr                            HR_HIGH / HR_LOW
worker     hr_signal                     HR_NO_SIGNAL
worker     man_down                      NO_MOTION / FALL -> MAN_DOWN
worker     panic                         PANIC
worker     check_in                      CHECK_IN_MISSED
device     battery                       LOW_BATTERY
device     link                          LINK_LOST (wearable)
worker     position                      NO_POSITION (device for equipment tags)
worker     geofence:{zone}               GEOFENCE
worker     proximity:{equipment}         PROXIMITY (MEDIUM/HIGH/CRITICAL by band)
=========  ============================  =============================================
"""
from .engine import FusionEngine

__all__ = ["FusionEngine"]

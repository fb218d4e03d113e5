"""The rollout tables, on the cloud schema's one ``MetaData`` (migration ``0007_rollout``).

Times are Unix seconds by the server's clock (device clocks drift; promotion
and halting compare server times only). ``rollout_events`` is append-only
(triggers refuse UPDATE and DELETE): it is the record of who changed a
rollout, when and why. ``model_pins`` are desired versions set outside any
rollout, per device or per group (site, device type, hardware profile).
"""
from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from cloud_sync.db.metadata import metadata

ID = String(64)  # rollout ids and the contract's device ids
NAME = String(128)  # a model name
VERSION = String(64)
WHO = String(200)  # an admin's name, "token:<id>", "auto", "device:<id>"

rollouts = Table(
    "rollouts", metadata,
    Column("id", ID, primary_key=True),
    Column("slot", String(16), nullable=False),  # contract.rollout.SLOTS
    Column("model", NAME, nullable=False),
    Column("version", VERSION, nullable=False),  # the candidate
    Column("baseline_version", VERSION),  # what the targets ran before: given back on halt and rollback
    Column("target", JSON, nullable=False),  # a selectors.Selector
    Column("canary_share", Float, nullable=False),
    Column("healthy_period_s", Float, nullable=False),
    Column("min_confirmed_alarms", Integer, nullable=False),
    Column("shadow_s", Float, nullable=False),
    Column("watch_s", Float, nullable=False),
    Column("latency_budget_ms", Float),
    Column("state", String(16), nullable=False, index=True),  # states.State
    Column("reason", Text),  # why it was last paused, halted or rolled back
    Column("created_by", WHO, nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("promoted_ts", Float),
)

rollout_devices = Table(
    "rollout_devices", metadata,  # the targets of a rollout, fixed at its creation
    Column("rollout_id", ID, ForeignKey("rollouts.id"), primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("device_type", ID, nullable=False),
    Column("stage", String(8), nullable=False),  # canary | fleet
    Column("state", String(16)),  # the device's SlotState for this slot, as last reported
    Column("active_version", VERSION),  # the version it last reported active in the slot
    Column("activated_ts", Float),  # when a report first showed the candidate active (reset if it stops)
    Column("confirmed", Integer, nullable=False),  # confirmed alarms seen while the candidate was active
    Column("rolled_back_reason", Text),
    Column("reported_ts", Float),
    Index("ix_rollout_devices_device_id", "device_id", "rollout_id"),
)

rollout_events = Table(
    "rollout_events", metadata,  # append-only
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", ID, nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # created promoted paused resumed halted rolled_back completed
    Column("by", WHO, nullable=False),
    Column("device_id", ID),  # the device whose report caused it (a halt)
    Column("reason", Text),
    Index("ix_rollout_events_rollout_id", "rollout_id", "id"),
)

model_pins = Table(
    "model_pins", metadata,
    Column("slot", String(16), primary_key=True),
    Column("scope", String(16), primary_key=True),  # device | device_type | profile | site
    Column("key", String(200), primary_key=True),  # the device id, type, site, or a profile selector's text
    Column("model", NAME, nullable=False),
    Column("version", VERSION, nullable=False),
    Column("set_by", WHO, nullable=False),
    Column("set_ts", Float, nullable=False),
)

device_reports = Table(
    "device_reports", metadata,  # the latest update report of each device
    Column("device_id", ID, primary_key=True),
    Column("received_ts", Float, nullable=False),
    Column("ts", Float, nullable=False),  # the device's clock
    Column("interval_s", Float, nullable=False),
    Column("body", JSON, nullable=False),  # a contract.rollout.DeviceReport
)

APPEND_ONLY = ("rollout_events",)
TABLES = (rollouts, rollout_devices, rollout_events, model_pins, device_reports)

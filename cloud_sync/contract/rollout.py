"""The rollout half of the wire contract: what a device is told to run, and what it says it runs.

``GET /v1/devices/{id}/desired`` answers a :class:`DesiredState`; the device
downloads each slot's package from ``DesiredModel.url`` (``Range`` resumes a
partial download) and ``POST /v1/devices/{id}/report``\\ s a
:class:`DeviceReport` every ``report_interval_s``. Both are signed like every
device request (docs/sync.md). One shape on both sides: the cloud's rollout
engine builds these objects and the edge's update agent parses them.

A *slot* is one place a model runs on the device: ``camera`` (the detector
every camera of the device runs) or ``risk`` (the alarm risk scorer). The
device never needs the cloud to undo a switch: it keeps the previous version
installed and rolls back by itself, then reports a ``rolled_back`` event, on
which the cloud halts that rollout fleet-wide.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

SLOTS = ("camera", "risk")
REPORT_INTERVAL_ENV = "SITEGUARD_REPORT_INTERVAL_S"
"""The cloud's setting of DesiredState.report_interval_s (seconds; default 30)."""
Slot = Literal["camera", "risk"]
Stage = Literal["canary", "fleet", "pinned"]
"""canary: this device is in a rollout's canary set; fleet: promoted to every targeted device;
pinned: the version an admin set for the device or its group, outside any rollout."""
SlotState = Literal["idle", "downloading", "verifying", "shadow", "watching", "active", "rolled_back", "refused"]
EventKind = Literal["downloaded", "refused", "shadow_passed", "shadow_failed", "activated", "rolled_back"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer peer's extra fields are ignored


class ModelRef(_Wire):
    """One model version as it runs: ``sha256`` is the running artifact's (what alarms and detections carry)."""

    name: str
    version: str
    sha256: Optional[str] = None


class DesiredModel(_Wire):
    """The version one slot should run, and how carefully to switch to it."""

    name: str
    version: str
    package_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the package archive served at url")
    package_bytes: int = Field(ge=0)
    url: str = Field(description="path of the package archive, under the API root (e.g. /v1/devices/d1/packages/...)")
    artifact: Optional[str] = Field(None, description="path (in the package) of the artifact built for this device")
    rollout_id: Optional[str] = None
    stage: Stage = "pinned"
    shadow_s: float = Field(60.0, ge=0, description="how long the candidate runs in the active model's shadow")
    watch_s: float = Field(120.0, ge=0, description="how long after the switch the device watches its health")
    latency_budget_ms: Optional[float] = Field(None, gt=0, description="inference p95 above this rolls back")


class DesiredState(_Wire):
    device: str
    generated_ts: float
    report_interval_s: float = Field(gt=0)
    models: dict[str, DesiredModel] = Field(default_factory=dict, description="by slot")
    halted: list[str] = Field(default_factory=list, description="rollouts halted fleet-wide: never start them")


class Performance(_Wire):
    """How the active model of a slot performs since it was switched in (None: nothing measured yet)."""

    inference_p50_ms: Optional[float] = None
    inference_p95_ms: Optional[float] = None
    inferences: int = 0
    alarms: int = 0
    alarms_per_h: Optional[float] = None
    confirmed: int = 0
    false: int = 0
    precision: Optional[float] = Field(None, description="confirmed / (confirmed + false) among verdicts")
    recall_confirmed: Optional[float] = Field(
        None, description="share of confirmed alarms the model flagged (risk: scored at or above its threshold)")


class ShadowSummary(_Wire):
    """The candidate beside the active model on the same live frames or sensor windows."""

    compared: int = 0
    agreement: Optional[float] = Field(None, description="share of frames/windows where both decided alike")
    candidate_p95_ms: Optional[float] = None
    active_p95_ms: Optional[float] = None
    regression: Optional[str] = Field(None, description="why the candidate is worse, when it is")


class UpdateEvent(_Wire):
    ts: float
    kind: EventKind
    slot: Slot
    model: ModelRef
    rollout_id: Optional[str] = None
    reason: Optional[str] = Field(None, max_length=2000)


class SlotReport(_Wire):
    state: SlotState = "idle"
    active: Optional[ModelRef] = None
    previous: Optional[ModelRef] = None
    target: Optional[ModelRef] = Field(None, description="the version being installed, while one is")
    rollout_id: Optional[str] = None
    reason: Optional[str] = Field(None, max_length=2000, description="why the last install was refused or undone")
    since_ts: Optional[float] = Field(None, description="when the active model was switched in")
    performance: Performance = Performance()
    shadow: Optional[ShadowSummary] = None


class DeviceReport(_Wire):
    """The body of ``POST /v1/devices/{id}/report``. ``events`` are those since the last accepted report."""

    ts: float
    interval_s: float = Field(gt=0, le=86400)
    slots: dict[str, SlotReport] = Field(default_factory=dict)
    events: list[UpdateEvent] = Field(default_factory=list, max_length=1000)


class ReportAck(_Wire):
    server_ts: float
    halted: list[str] = Field(default_factory=list, description="rollouts halted as a result of this report")

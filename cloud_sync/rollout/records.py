"""What the rollout API takes and answers (pydantic, so it validates and documents them as they are)."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud_sync.contract.rollout import DesiredState, DeviceReport, Slot

from .selectors import ProfileMatch, Selector
from .states import State

ModelName = Annotated[str, Field(min_length=1, max_length=128)]
Version = Annotated[str, Field(min_length=1, max_length=64)]
Scope = Literal["device", "device_type", "profile", "site"]
SCOPES: tuple[Scope, ...] = ("device", "device_type", "profile", "site")
"""A pin's scopes, most specific first: a device's own pin wins over its type's, and so on."""
DAY_S = 86400.0


class RolloutPlan(BaseModel):
    """Whom a rollout targets and when it is promoted: what a training pipeline's ``rollout`` option holds, to
    start one for each candidate it registers."""

    model_config = ConfigDict(extra="forbid")
    target: Selector = Field(default_factory=Selector, description="empty: every device of the fleet")
    canary_share: float = Field(0.1, ge=0, le=1, description="share of targets in the canary (at least one per type)")
    canaries: list[str] = Field(default_factory=list, max_length=1000,
                                description="devices to take as canaries first (each must be a target)")
    healthy_period_s: float = Field(600.0, ge=0, le=30 * DAY_S,
                                    description="every canary runs the candidate this long before promotion")
    min_confirmed_alarms: int = Field(1, ge=0, le=1_000_000,
                                      description="confirmed alarms the canaries must see with it before promotion")
    shadow_s: float = Field(60.0, ge=0, le=DAY_S)
    watch_s: float = Field(120.0, ge=0, le=DAY_S)
    latency_budget_ms: Optional[float] = Field(None, gt=0, le=60_000)


class RolloutIn(RolloutPlan):
    """A rollout to start: the candidate, its targets, and when to promote it."""

    slot: Slot
    model: ModelName
    version: Version
    baseline_version: Optional[Version] = Field(
        None, description="given back on halt or rollback; default: what most targets are desired to run now")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Optional[str] = Field(None, max_length=2000)


class Progress(BaseModel):
    """How far the canary is toward automatic promotion."""

    canary_total: int
    canary_active: int = Field(description="canaries reporting the candidate active")
    canary_healthy: int = Field(description="canaries with it active for the healthy period")
    confirmed: int = Field(description="confirmed alarms the canaries saw with it active")
    min_confirmed_alarms: int
    remaining_s: Optional[float] = Field(description="until the last canary's healthy period ends; null: not all active")
    targets: int
    targets_active: int


class RolloutDevice(BaseModel):
    device_id: str
    device_type: str
    stage: Literal["canary", "fleet"]
    state: Optional[str] = Field(description="the device's slot state, as last reported")
    active_version: Optional[str]
    activated_ts: Optional[float] = Field(description="when a report first showed the candidate active")
    confirmed: int
    rolled_back_reason: Optional[str]
    reported_ts: Optional[float]


class DeviceRollout(RolloutDevice):
    """A device's row of one rollout, with the rollout it belongs to."""

    rollout_id: str
    slot: str
    model: str
    version: str
    rollout_state: State


class RolloutEvent(BaseModel):
    ts: float
    kind: str
    by: str
    device_id: Optional[str]
    reason: Optional[str]


class Rollout(BaseModel):
    id: str
    slot: str
    model: str
    version: str
    baseline_version: Optional[str]
    target: Selector
    canary_share: float
    healthy_period_s: float
    min_confirmed_alarms: int
    shadow_s: float
    watch_s: float
    latency_budget_ms: Optional[float]
    state: State
    reason: Optional[str] = Field(description="why it was last paused, halted or rolled back")
    created_by: str
    created_ts: float
    updated_ts: float
    promoted_ts: Optional[float]
    canary_devices: list[str]
    progress: Progress


class RolloutDetail(Rollout):
    devices: list[RolloutDevice]
    events: list[RolloutEvent] = Field(description="oldest first")


class RolloutList(BaseModel):
    rollouts: list[Rollout] = Field(description="newest first")


class PinIn(BaseModel):
    """A desired version for a device or a group, outside rollouts (``profile`` for a hardware-profile group)."""

    model_config = ConfigDict(extra="forbid")
    slot: Slot
    scope: Scope
    key: Optional[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]] = Field(
        None, description="the device id, device type or site")
    profile: Optional[ProfileMatch] = None
    model: ModelName
    version: Version

    @model_validator(mode="after")
    def _one_key(self) -> PinIn:
        if (self.scope == "profile") != (self.profile is not None) or (self.scope != "profile") == (self.key is None):
            raise ValueError("give profile for the profile scope, key for the others")
        return self

    def stored_key(self) -> str:
        return self.profile.key() if self.profile is not None else str(self.key)


class Pin(BaseModel):
    slot: str
    scope: Scope
    key: str
    model: str
    version: str
    set_by: str
    set_ts: float


class PinList(BaseModel):
    pins: list[Pin]


class PinQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slot: Slot
    scope: Scope
    key: str = Field(min_length=1, max_length=200, description="as the pin list shows it")


class ActivityEntry(BaseModel):
    slot: str
    name: Optional[str] = Field(description="null: the slot stopped reporting a model")
    version: Optional[str]
    sha256: Optional[str]
    from_ts: float
    reported_ts: float


class DeviceUpdates(BaseModel):
    """One device's update state: what it is told to run, what it last reported, its rollouts, what it ran."""

    device_id: str
    desired: DesiredState
    report: Optional[DeviceReport]
    report_received_ts: Optional[float]
    rollouts: list[DeviceRollout] = Field(description="newest first")
    activity: list[ActivityEntry] = Field(description="newest first")

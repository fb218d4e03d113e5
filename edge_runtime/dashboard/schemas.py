"""Request and response bodies of the dashboard API (they are its OpenAPI schemas too).

Times are UNIX seconds (floats) everywhere; the page formats them in the
site's time zone. Request models forbid unknown fields, so a typo in a
client is an error rather than an ignored option.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.contract.records import AlarmRecord, ChannelName, PriorityName, VerdictName

RoleName = Literal["viewer", "supervisor", "admin"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- session and accounts ------------------------------------------------------------------------

class LoginIn(Request):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    name: str
    display_name: str
    role: RoleName
    csrf_token: str = Field(description="Send it back in the X-CSRF-Token header of every state change")
    expires_ts: float


class AccountOut(BaseModel):
    name: str
    display_name: str
    role: RoleName
    source: Literal["config", "database"]


class AccountList(BaseModel):
    accounts: list[AccountOut]


class AccountIn(Request):
    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    display_name: str = Field("", max_length=128)
    role: RoleName
    password: str = Field(min_length=10, max_length=1024)


# -- site plan, workers, cameras -----------------------------------------------------------------

class ZoneOut(BaseModel):
    id: str
    name: str
    hazard: str
    polygon: list[tuple[float, float]]
    siren: bool
    siren_on: bool = Field(description="The siren is commanded on now (by an alarm or a supervisor)")
    evacuating: bool = Field(description="An evacuation (ordered or from detectors) is active")
    occupants: list[str]
    alarm_priority: Optional[PriorityName] = Field(None, description="Highest priority of the zone's open alarms")


class MapPoint(BaseModel):
    id: str
    name: str = ""
    kind: str = Field(description="detector, camera, siren or equipment")
    x: float
    y: float
    zone: Optional[str] = None
    online: Optional[bool] = None


class SitePlan(BaseModel):
    site_id: str
    site_name: str
    timezone: str
    bounds: tuple[float, float, float, float] = Field(description="min x, min y, max x, max y in site metres")
    stale_after_s: float = Field(description="Positions older than this are stale (greyed out)")
    page_stale_after_s: float = Field(description="The page marks its data stale after this long without an update")
    zones: list[ZoneOut]
    points: list[MapPoint]


class PositionOut(BaseModel):
    x: float
    y: float
    ts: float
    age_s: float
    stale: bool
    hdop: Optional[float] = None


class HeartRateOut(BaseModel):
    bpm: Optional[float] = None
    valid: bool = False
    contact: Optional[str] = None
    age_s: Optional[float] = None
    level: Optional[str] = None


class ExposureOut(BaseModel):
    value: Optional[float] = Field(None, description="Current time-weighted average (ppm or unit of the gas)")
    limit: Optional[float] = None
    fraction: Optional[float] = Field(None, description="value / limit: 1.0 is the alarm point")


class GasOut(BaseModel):
    gas: str
    value: Optional[float] = None
    unit: str = ""
    ts: Optional[float] = None
    stale: bool = False
    fault: Optional[str] = None
    band: Optional[str] = None
    stel: ExposureOut = ExposureOut()
    twa: ExposureOut = ExposureOut()


class WorkerOut(BaseModel):
    id: str
    name: str
    role: str
    position: Optional[PositionOut] = None
    zones: list[str]
    hr: Optional[HeartRateOut] = None
    gas: list[GasOut]
    battery: dict[str, float] = Field(description="Device id -> percent")
    last_seen: Optional[float] = None
    alarm_ids: list[str]
    alarm_priority: Optional[PriorityName] = None


class WorkerList(BaseModel):
    ts: float
    workers: list[WorkerOut]


class TrendPoint(BaseModel):
    """One interval of a trend: a short spike stays visible in ``max`` (or ``min``) though the mean hides it."""

    ts: float = Field(description="Start of the interval")
    value: float = Field(description="Mean of the readings in the interval")
    min: float
    max: float


class WorkerCard(WorkerOut):
    hr_trend: list[TrendPoint] = Field(description="Heart rate over the last trend window, oldest first")
    gas_trend: dict[str, list[TrendPoint]] = Field(description="Gas -> readings over the trend window")


class CameraOut(BaseModel):
    id: str
    name: str
    online: bool
    reason: str = ""
    model: Optional[str] = None
    model_version: Optional[str] = None
    backend: Optional[str] = None
    frames: int = 0
    frame_ts: Optional[float] = Field(
        None, description="Capture time of the newest processed frame (the annotated view is at most 0.2 s older)"
    )


class CameraList(BaseModel):
    cameras: list[CameraOut]


class QueueOut(BaseModel):
    name: str = Field(description="e.g. telemetry.routine, telemetry.events, store.readings, mqtt.inbox")
    kind: Literal["bulk", "events"] = Field(description="events queues never shed; bulk queues coalesce routine data")
    depth: int = Field(description="Items waiting now")
    capacity: int = Field(description="The bound (0: one coalescing slot per source, or an events queue)")
    high_water: int = Field(description="Largest depth seen since start")
    enqueued: int = Field(description="Items accepted since start")
    shed: int = Field(description="Routine items dropped or coalesced into a newer one since start")


class StorageOut(BaseModel):
    writable: bool = Field(description="The database takes writes; alarms are raised and sent either way")
    reason: str = Field(description="Why it does not (empty while it does)")
    held: int = Field(description="Alarm writes held (memory, spill file) until the database takes them")
    spilled: int = Field(description="Alarm writes appended to a spill file since start")
    lost: int = Field(description="Alarm writes kept nowhere: the journal was full and the spill file unwritable")


class LoadOut(BaseModel):
    shedding: bool = Field(description="Some queue has shed routine data since start (the overload policy at work)")
    shed: int = Field(description="Routine items shed since start, all queues")
    queues: list[QueueOut]
    storage: StorageOut


class SyncLaneOut(BaseModel):
    rows: int = Field(description="Rows not in the cloud yet")
    bytes: int = Field(description="About how many stored bytes they are")
    oldest_ts: Optional[float] = Field(description="When the oldest of them happened (null: none waiting)")


class SyncOut(BaseModel):
    """The cloud uplink as the sync agent last reported it; never a reason for the site to stop alarming."""

    enabled: bool = Field(description="sync.enabled in the site file")
    alive: bool = Field(False, description="The agent's process runs")
    degraded: bool = Field(False, description="The uplink fails or the agent is down: the cloud's copy lags")
    lanes: dict[str, SyncLaneOut] = Field({}, description="events, bulk, snapshots: what each still has to send")
    last_success_ts: Optional[float] = Field(None, description="The last batch the cloud confirmed")
    last_error: Optional[str] = Field(None, description="The last failed request (null once one succeeds)")
    last_error_ts: Optional[float] = None
    breaker: str = Field("closed", description="closed, open (not sending for a while) or half_open")
    quarantined: int = Field(0, description="Ranges the cloud refused, kept aside on the device")
    last_quarantine: Optional[str] = Field(None, description="The latest of them, with the cloud's reason")


# -- alarms ----------------------------------------------------------------------------------------

# The alarm record itself is the contract's AlarmRecord (the one shape on MQTT, in SQLite, here and in sync).


class FloodOut(BaseModel):
    active: bool
    group: Optional[str] = None
    count: int = 0
    since: Optional[float] = None
    summary: str = ""


class AlarmList(BaseModel):
    alarms: list[AlarmRecord] = Field(description="Open alarms, highest priority first, then newest first")
    flood: Optional[FloodOut] = None


class AckIn(Request):
    note: Optional[str] = Field(None, max_length=1000)
    verdict: Optional[VerdictName] = None


class VerdictIn(Request):
    verdict: VerdictName
    note: Optional[str] = Field(None, max_length=1000)


class ShelveIn(Request):
    duration_s: float = Field(ge=60, le=12 * 3600, description="How long the alarm stays shelved")
    reason: str = Field(min_length=3, max_length=500)


# -- zone actions -----------------------------------------------------------------------------------

ZoneActionName = Literal["siren_on", "siren_off", "evacuate", "all_clear"]


class ZoneActionIn(Request):
    action: ZoneActionName
    note: Optional[str] = Field(None, max_length=500)


class ZoneActionOut(BaseModel):
    id: int
    zone: str
    action: ZoneActionName
    by: str
    ts: float
    note: Optional[str] = None
    alarm_id: Optional[str] = Field(None, description="The alarm the action raised or ended, if any")
    muted: list[str] = Field([], description="Alarms whose siren this action muted (siren_off; they re-sound "
                             "after the site's mute time unless acknowledged). Only in the answer to the action")
    siren_alarms: list[str] = Field([], description="Open alarms sounding the zone's siren after the action "
                                    "(acknowledged ones cannot be muted). Only in the answer to the action")


class ZoneActionQuery(BaseModel):
    """Zone actions in a window (as in HistoryQuery), newest first."""

    model_config = ConfigDict(extra="forbid")
    since: Optional[float] = None
    until: Optional[float] = None
    shift: Optional[str] = None
    date: Optional[str] = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD the shift starts on")
    zone: Optional[str] = None
    limit: int = Field(500, ge=1, le=5000)


class ZoneActionList(BaseModel):
    actions: list[ZoneActionOut]


# -- live events (GET /events, text/event-stream; `workers` is a WorkerList, `zone_action` a ZoneActionOut) ---

class HelloEvent(BaseModel):
    ts: float
    stale_after_s: float = Field(description="Mark the page's data stale after this long without an event")


class PingEvent(BaseModel):
    ts: float


class AlarmEvent(BaseModel):
    cause: str = Field(description="What changed: raised, escalated, acknowledged, cleared, closed, ...")
    alarm: AlarmRecord


class CameraEvent(BaseModel):
    id: str
    online: bool
    reason: str = ""
    frame_ts: Optional[float] = Field(None, description="Capture time of the camera's newest processed frame")


# -- history and reports --------------------------------------------------------------------------

class HistoryQuery(BaseModel):
    """A time window: explicit ``since``/``until``, or a named shift on a date (site local time)."""

    model_config = ConfigDict(extra="forbid")
    since: Optional[float] = None
    until: Optional[float] = None
    shift: Optional[str] = None
    date: Optional[str] = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD the shift starts on")
    kind: Optional[str] = None
    priority: Optional[PriorityName] = None
    subject: Optional[str] = None
    verdict: Optional[VerdictName] = None
    limit: int = Field(1000, ge=1, le=20000)


class ShiftOut(BaseModel):
    name: str
    start: str
    end: str


class ShiftList(BaseModel):
    timezone: str
    shifts: list[ShiftOut]
    current: Optional[str] = Field(None, description="Name of the shift running now")
    current_date: Optional[str] = Field(None, description="The date the current shift started on")


class TransitionOut(BaseModel):
    alarm_id: str
    ts: float
    cause: str
    from_state: str
    to_state: str
    by: Optional[str] = None
    channel: Optional[ChannelName] = Field(None, description="How the change came: dashboard, mqtt, wearable or "
                                           "system (the daemon itself); null on rows stored before channels were")
    note: Optional[str] = None


class AlarmHistory(BaseModel):
    since: float
    until: float
    alarms: list[AlarmRecord]
    transitions: list[TransitionOut]


class ExposureQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: str
    since: Optional[float] = None
    until: Optional[float] = None
    shift: Optional[str] = None
    date: Optional[str] = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class GasExposureOut(BaseModel):
    gas: str
    unit: str
    minutes: int = Field(description="Minutes of the window with readings")
    twa: Optional[float] = Field(None, description="8-hour TWA equivalent over the window")
    twa_limit: Optional[float] = None
    stel_peak: Optional[float] = Field(None, description="Highest 15-minute average in the window")
    stel_peak_ts: Optional[float] = Field(None, description="End of the 15 minutes of the STEL peak")
    stel_limit: Optional[float] = None
    peak: Optional[float] = Field(None, description="Highest one-minute average")
    alarms: int = Field(0, description="Gas alarms of this worker and gas in the window")


class ExposureReport(BaseModel):
    worker: str
    name: str
    since: float
    until: float
    timezone: str
    gases: list[GasExposureOut]

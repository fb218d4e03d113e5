"""The site as the dashboard shows it: the map (zones and fixed points) and the workers.

Pure functions of the daemon's state, called on the event loop (fusion and the
alarm engine are loop-only). The API handlers and the live hub share them, so
a worker looks the same in ``GET /workers`` and in a ``workers`` event.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from cloud_sync.contract.records import PriorityName
from edge_runtime.alarms.model import Alarm, AlarmKind, Priority, SubjectKind
from edge_runtime.alarms.rules import sirens_sounded
from edge_runtime.config.people import Worker
from edge_runtime.config.site import SiteConfig
from edge_runtime.config.zones import Zone
from firmware_bridge.readings import Gas

from .schemas import (
    CameraList,
    CameraOut,
    ExposureOut,
    GasOut,
    HeartRateOut,
    MapPoint,
    PositionOut,
    SitePlan,
    WorkerCard,
    WorkerList,
    WorkerOut,
    ZoneOut,
)
from .trends import WorkerTrends

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

    from .runtime import DashboardRuntime

MIN_PAD_M = 5.0  # the map keeps a margin around the outermost zone or point
PAD_FRACTION = 0.05


def _priority_name(priority: Priority | None) -> PriorityName | None:
    return cast(PriorityName, priority.name.lower()) if priority is not None else None


def _worse(a: Priority | None, b: Priority) -> Priority:
    return b if a is None or b > a else a


# -- the map ------------------------------------------------------------------------------------

@dataclass(slots=True)
class _ZoneState:
    priority: Priority | None = None
    siren_on: bool = False
    evacuating: bool = False


def _zone_states(alarms: Iterable[Alarm], now: float) -> dict[str, _ZoneState]:
    """One pass over the open alarms: each zone's worst priority, siren and evacuation."""
    states: dict[str, _ZoneState] = {}
    for a in alarms:
        zone = a.zone or (a.subject.id if a.subject.kind is SubjectKind.ZONE else None)
        if zone is not None:
            st = states.setdefault(zone, _ZoneState())
            st.priority = _worse(st.priority, a.priority)
            st.evacuating |= a.kind is AlarmKind.ZONE_EVACUATE and a.condition_active
        for siren in sirens_sounded(a, now):  # as the notifiers decide it
            states.setdefault(siren, _ZoneState()).siren_on = True
    return states


def centroid(polygon: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """Area centroid of a simple polygon (the mean of its corners when it has no area)."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area) < 1e-9:
        return (sum(p[0] for p in polygon) / len(polygon), sum(p[1] for p in polygon) / len(polygon))
    return (cx / (3 * area), cy / (3 * area))


def _zone_out(zone: Zone, state: _ZoneState, occupants: set[str]) -> ZoneOut:
    return ZoneOut(
        id=zone.id, name=zone.name, hazard=zone.hazard, polygon=list(zone.polygon), siren=zone.siren,
        siren_on=zone.siren and state.siren_on, evacuating=state.evacuating, occupants=sorted(occupants),
        alarm_priority=_priority_name(state.priority),
    )


def _points(daemon: "DashboardRuntime", alarms: list[Alarm]) -> list[MapPoint]:
    """Fixed detectors, placed cameras, sirens and equipment (tracked or placed)."""
    config = daemon.config
    centres = {z.id: centroid(z.polygon) for z in config.zones}
    stale = {a.subject.id for a in alarms
             if a.kind is AlarmKind.GAS_SENSOR_STALE and a.condition_active and a.subject.kind is SubjectKind.DEVICE}
    points: list[MapPoint] = []
    for d in config.detectors:
        xy = d.position or (centres.get(d.zone) if d.zone else None)
        if d.kind == "fixed" and xy is not None:
            points.append(MapPoint(id=d.id, name=d.id, kind="detector", x=xy[0], y=xy[1], zone=d.zone,
                                   online=d.id not in stale))
    status = daemon.vision.status() if daemon.vision is not None else {}
    for c in config.cameras:
        if c.position is not None:
            online = status.get(c.id, {}).get("online")
            points.append(MapPoint(id=c.id, name=c.name or c.id, kind="camera", x=c.position[0], y=c.position[1],
                                   online=bool(online)))
    for z in config.zones:
        if z.siren:
            x, y = centres[z.id]
            points.append(MapPoint(id=z.id, name=z.name or z.id, kind="siren", x=x, y=y, zone=z.id))
    for e in config.equipment:
        if (xy := daemon.fusion.equipment_position(e.id)) is not None:
            points.append(MapPoint(id=e.id, name=e.name or e.id, kind="equipment", x=xy[0], y=xy[1]))
    return points


def _bounds(config: SiteConfig, points: list[MapPoint]) -> tuple[float, float, float, float]:
    xs = [x for z in config.zones for x, _ in z.polygon] + [p.x for p in points]
    ys = [y for z in config.zones for _, y in z.polygon] + [p.y for p in points]
    if not xs:
        return (-50.0, -50.0, 50.0, 50.0)
    pad = max(MIN_PAD_M, PAD_FRACTION * max(max(xs) - min(xs), max(ys) - min(ys)))
    return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)


def site_plan(daemon: "DashboardRuntime", settings: "DashboardSettings") -> SitePlan:
    config = daemon.config
    alarms = daemon.alarms.active()
    states = _zone_states(alarms, daemon.clock())
    points = _points(daemon, alarms)
    return SitePlan(
        site_id=config.site.id, site_name=config.site.name, timezone=settings.timezone,
        bounds=_bounds(config, points), stale_after_s=config.positions.stale_after_s,
        page_stale_after_s=settings.stale_after_s,
        zones=[_zone_out(z, states.get(z.id, _ZoneState()), daemon.fusion.zone_occupants(z.id)) for z in config.zones],
        points=points,
    )


# -- workers --------------------------------------------------------------------------------------

@dataclass(slots=True)
class WorkerAlarms:
    """A worker's open alarms (about the worker or one of its devices) and the worst of their priorities."""

    ids: list[str] = field(default_factory=list)
    priority: Priority | None = None


def worker_alarms(daemon: "DashboardRuntime") -> dict[str, WorkerAlarms]:
    """Open alarms per worker: about the worker, or about one of the worker's devices."""
    owner = {dev: w.id for w in daemon.config.workers for dev in (w.wearable, w.detector, w.gps) if dev}
    out: dict[str, WorkerAlarms] = {}
    for a in daemon.alarms.active():
        kind, subject = a.subject.kind, a.subject.id
        worker = subject if kind is SubjectKind.WORKER else owner.get(subject) if kind is SubjectKind.DEVICE else None
        if worker is not None:
            entry = out.setdefault(worker, WorkerAlarms())
            entry.ids.append(a.alarm_id)
            entry.priority = _worse(entry.priority, a.priority)
    return out


def _exposure(value: float | None, limit: float | None) -> ExposureOut:
    fraction = value / limit if value is not None and limit else None
    return ExposureOut(value=value, limit=limit, fraction=fraction)


def _gas_out(config: SiteConfig, gas: str, v: Mapping[str, Any]) -> GasOut:
    try:
        sp = config.gas.set_points.get(Gas(gas))
    except ValueError:  # a gas fusion knows and the set points do not: no limits to show
        sp = None
    return GasOut(
        gas=gas, value=v.get("value"), unit=v.get("unit") or (sp.unit if sp else ""), ts=v.get("ts"),
        stale=bool(v.get("stale", False)), fault=v.get("fault"), band=v.get("band"),
        stel=_exposure(v.get("stel"), sp.stel if sp else None), twa=_exposure(v.get("twa"), sp.twa if sp else None),
    )


def _worker_fields(daemon: "DashboardRuntime", worker: Worker, alarms: Mapping[str, WorkerAlarms]) -> dict[str, Any]:
    view = daemon.fusion.worker_view(worker.id)
    pos, hr = view["position"], view["hr"]
    entry = alarms.get(worker.id, WorkerAlarms())
    return {
        "id": worker.id, "name": worker.name, "role": worker.role,
        "position": PositionOut(x=pos["x"], y=pos["y"], ts=pos["ts"], age_s=pos["age_s"], stale=pos["stale"],
                                hdop=pos["hdop"]) if pos else None,
        "zones": view["zones"],
        "hr": HeartRateOut(bpm=hr["bpm"], valid=hr["valid"], contact=hr["contact"], age_s=hr["age_s"],
                           level=hr["level"]) if hr else None,
        "gas": [_gas_out(daemon.config, gas, v) for gas, v in view["gas"].items()],
        "battery": view["battery"], "last_seen": view["last_seen"],
        "alarm_ids": entry.ids, "alarm_priority": _priority_name(entry.priority),
    }


def worker_out(daemon: "DashboardRuntime", worker: Worker, alarms: Mapping[str, WorkerAlarms]) -> WorkerOut:
    return WorkerOut(**_worker_fields(daemon, worker, alarms))


def worker_list(daemon: "DashboardRuntime") -> WorkerList:
    alarms = worker_alarms(daemon)
    return WorkerList(ts=daemon.clock(), workers=[worker_out(daemon, w, alarms) for w in daemon.config.workers])


def worker_card(daemon: "DashboardRuntime", worker_id: str, trends: WorkerTrends) -> WorkerCard:
    """One worker with trends; raises KeyError for an unknown id."""
    worker = daemon.config.worker(worker_id)
    if worker is None:
        raise KeyError(worker_id)
    now = daemon.clock()
    return WorkerCard(**_worker_fields(daemon, worker, worker_alarms(daemon)),
                      hr_trend=trends.hr(worker_id, now), gas_trend=trends.gas(worker_id, now))


# -- cameras --------------------------------------------------------------------------------------

def camera_list(daemon: "DashboardRuntime", frame_ts: Mapping[str, float]) -> CameraList:
    """Every configured camera with its worker's state; ``frame_ts``: newest processed frame per camera."""
    status = daemon.vision.status() if daemon.vision is not None else {}
    cameras = []
    for c in daemon.config.cameras:
        st = status.get(c.id, {})
        lineage = st.get("model") or {}
        cameras.append(CameraOut(
            id=c.id, name=c.name or c.id, online=bool(st.get("online")), reason=st.get("reason", ""),
            model=lineage.get("model"), model_version=lineage.get("version"), backend=lineage.get("backend"),
            frames=st.get("frames", 0), frame_ts=frame_ts.get(c.id),
        ))
    return CameraList(cameras=cameras)

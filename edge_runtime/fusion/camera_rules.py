"""Camera rules (DOMAIN.md, "Fusion"): detections plus tags become conditions for the same alarm engine.

Each camera's :class:`FrameDetections` are judged with what the tags say
(``FusionEngine.fresh_positions`` and ``zone_occupants``). A detection counts
when its score is at least ``rules.min_score``; overlapping boxes are one
person, labelled as its best-scoring box says. A condition starts after
``min_frames`` consecutive frames show it and ends after ``min_frames``
frames without it (the alarm class's off-delay comes on top).

==========  ===========================  =============  =============================================
subject     condition                    kind           when
==========  ===========================  =============  =============================================
zone        camera_intruder:{camera}     CAMERA_        a person (any person-like label) in a
                                         INTRUDER       restricted zone not explained by an
                                                        authorised worker's fresh tag
worker      ppe:{camera}                 PPE_MISSING    a missing-PPE detection on a tagged worker
                                                        (notify that worker)
worker or   person_down:{camera}         PERSON_DOWN    a person lying down: on the matched worker
zone                                                    (their responders; CRITICAL when their
                                                        wearable also reports them down), else on
                                                        the innermost zone they lie in
device      camera                       CAMERA_OFFLINE the camera (or its worker) is down
==========  ===========================  =============  =============================================

Where a detection is: the site zones named by the image zones its foot point
is in, plus, with a homography, the site zones containing its foot point in
site metres. Matching to a worker: with site metres, the nearest fresh tag
within ``tag_match_m`` (each tag explains one person); without, the fresh
tagged occupants of its zones (one occupant: that worker; several: the zone,
everyone in it told). In a confined space a person down sounds the zone siren
and alerts the attendant.

A camera never clears or lowers what a sensor raised: it owns its own keys
only, so a learned model can add or escalate alarms but never suppress one.
While a camera is offline its streaks restart; its active conditions stay
(nothing showed them gone) until it sees again.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate, Notify, Priority, Subject
from edge_runtime.config.cameras import CameraConfig
from edge_runtime.config.site import SiteConfig
from edge_runtime.config.zones import Zone
from edge_runtime.geometry import Polygon
from edge_runtime.vision.detections import CameraStatus, Detection, FrameDetections
from edge_runtime.vision.postprocess import nms

from .conditions import ConditionBoard, device_subject, worker_label, worker_subject, zone_label, zone_subject
from .engine import FusionEngine

K = AlarmKind
SAME_PERSON_IOU = 0.5  # overlapping boxes above this are one person seen under several labels
AlarmHook = Callable[[FrameDetections, AlarmKind], None]


@dataclass(slots=True)
class _Finding:
    """What one frame showed for one key: enough to word the alarm."""

    subject: Subject
    message: str
    notify: Notify
    zone: str | None
    priority: Priority | None = None


@dataclass(slots=True)
class _Streak:
    seen: int = 0
    missed: int = 0
    active: bool = False
    finding: _Finding | None = None


@dataclass(slots=True)
class _Camera:
    config: CameraConfig
    person: frozenset[str]
    streaks: dict[tuple[str, str], _Streak] = field(default_factory=dict)  # (condition, subject) -> streak


class CameraRules:
    """Camera conditions from detections and tags; see the module docstring."""

    def __init__(
        self,
        config: SiteConfig,
        fusion: FusionEngine,
        emit: Callable[[ConditionUpdate], None],
        *,
        on_alarm: AlarmHook = lambda _frame, _kind: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fusion = fusion
        self._on_alarm = on_alarm
        self._clock = clock
        self._board = ConditionBoard(config.alarms, emit, lambda _pre: None)
        self._zones = {z.id: z for z in config.zones}
        self._polygons = {z.id: Polygon(z.polygon) for z in config.zones}
        self._area = {z.id: _area(z.polygon) for z in config.zones}
        self._workers = {w.id: w for w in config.workers}
        self._supervisors = tuple(w.id for w in config.workers if w.role == "supervisor")
        self._nearby_m = config.man_down.nearby_m
        self._cameras = {
            c.id: _Camera(c, frozenset((*c.rules.person, *c.rules.missing_ppe, *c.rules.down))) for c in config.cameras
        }

    # -- inputs -----------------------------------------------------------------------------

    def on_frame(self, frame: FrameDetections) -> None:
        cam = self._cameras.get(frame.camera)
        if cam is None:
            return
        rules = cam.config.rules
        now = self._clock()
        tags = self._fusion.fresh_positions(now)
        people = _one_per_person([d for d in frame.detections if d.score >= rules.min_score and d.label in cam.person])
        findings: dict[tuple[str, str], _Finding] = {}
        zones_of = {id(d): self._zones_of(d) for d in people}
        self._intruders(cam, people, zones_of, tags, findings)
        for d in people:
            if d.label in rules.missing_ppe:
                self._ppe(cam, d, zones_of[id(d)], tags, findings)
            elif d.label in rules.down:
                self._down(cam, d, zones_of[id(d)], tags, findings)
        self._judge(cam, frame, findings)

    def on_status(self, status: CameraStatus) -> None:
        cam = self._cameras.get(status.camera)
        if cam is None:
            return
        subject, label = device_subject(status.camera), _camera_label(cam.config)
        if status.online:
            self._board.clear(subject, "camera", status.ts, f"{label} online again")
            return
        for streak in cam.streaks.values():
            streak.seen = streak.missed = 0
        self._board.raise_(
            subject, "camera", K.CAMERA_OFFLINE, status.ts, f"{label} offline: {status.reason or 'no frames'}",
            notify=Notify(workers=self._supervisors),
        )

    # -- the rules --------------------------------------------------------------------------

    def _intruders(
        self, cam: _Camera, people: list[Detection], zones_of: dict[int, tuple[str, ...]],
        tags: dict[str, tuple[float, float]], findings: dict[tuple[str, str], _Finding],
    ) -> None:
        restricted = {z for d in people for z in zones_of[id(d)] if self._zones[z].hazard == "restricted"}
        for zone_id in sorted(restricted):
            zone = self._zones[zone_id]
            inside = [d for d in people if zone_id in zones_of[id(d)]]
            allowed = {w: xy for w, xy in tags.items() if self._authorised(zone, w)}
            if all(d.site_xy is not None for d in inside):
                unexplained = len(inside) - len(_assign(inside, allowed, cam.config.tag_match_m))
            else:
                present = self._fusion.zone_occupants(zone_id) & allowed.keys()
                unexplained = len(inside) - len(present)
            if unexplained <= 0:
                continue
            findings[(f"camera_intruder:{cam.config.id}", zone_id)] = _Finding(
                zone_subject(zone_id),
                f"{_camera_label(cam.config)} sees a person in {zone_label(zone)} with no authorised tag there",
                Notify(workers=tuple(dict.fromkeys((*self._supervisors, *self._authorised_workers(zone))))),
                zone_id,
            )

    def _ppe(
        self, cam: _Camera, d: Detection, zones: tuple[str, ...], tags: dict[str, tuple[float, float]],
        findings: dict[tuple[str, str], _Finding],
    ) -> None:
        what = d.label.replace("_", " ")
        worker, zone_id, candidates = self._match(cam, d, zones, tags)
        camera = _camera_label(cam.config)
        if worker is not None:
            findings[(f"ppe:{cam.config.id}", worker)] = _Finding(
                worker_subject(worker), f"{camera} sees {worker_label(self._workers[worker])} with PPE missing ({what})",
                Notify(workers=(worker,)), zone_id,
            )
        elif candidates:  # one of several tagged workers: tell them all, on the place it is about
            where = f"in {zone_label(self._zones[zone_id])}" if zone_id else "in view"
            findings[(f"ppe:{cam.config.id}", zone_id or cam.config.id)] = _Finding(
                zone_subject(zone_id) if zone_id else device_subject(cam.config.id),
                f"{camera} sees someone {where} with PPE missing ({what})", Notify(workers=candidates), zone_id,
            )

    def _down(
        self, cam: _Camera, d: Detection, zones: tuple[str, ...], tags: dict[str, tuple[float, float]],
        findings: dict[tuple[str, str], _Finding],
    ) -> None:
        confined = tuple(z for z in zones if self._zones[z].hazard == "confined_space")
        sirens = tuple(z for z in confined if self._zones[z].siren)
        attendants = tuple(a for z in confined if (a := self._zones[z].attendant))
        worker, zone_id, _ = self._match(cam, d, zones, tags)
        where = (f" in confined space {zone_label(self._zones[confined[0]])}: attendant alerted"
                 + (", siren on" if sirens else "")) if confined else ""
        if worker is not None:
            wearable = self._fusion.worker_view(worker).get("wearable") or {}
            corroborated = wearable.get("down") is not None
            text = "; their wearable reports them down too" if corroborated else ""
            findings[(f"person_down:{cam.config.id}", worker)] = _Finding(
                worker_subject(worker),
                f"{_camera_label(cam.config)} sees {worker_label(self._workers[worker])} lying on the ground{text}{where}",
                Notify(workers=tuple(dict.fromkeys((*self._fusion.responders(worker), *attendants))), sirens=sirens),
                zone_id, Priority.CRITICAL if corroborated else None,
            )
            return
        innermost = min(zones, key=self._area.__getitem__, default=None)
        subject = zone_subject(innermost) if innermost else device_subject(cam.config.id)
        place = f" in {zone_label(self._zones[innermost])}" if innermost else ""
        near = self._near(d, tags) if d.site_xy is not None else set()
        occupants = set().union(*(self._fusion.zone_occupants(z) for z in zones)) if d.site_xy is None else set()
        findings[(f"person_down:{cam.config.id}", innermost or cam.config.id)] = _Finding(
            subject, f"{_camera_label(cam.config)} sees an unidentified person lying on the ground{place}{where}",
            Notify(workers=tuple(dict.fromkeys((*self._supervisors, *attendants, *sorted(near | occupants)))), sirens=sirens),
            innermost,
        )

    # -- judging findings over frames -------------------------------------------------------

    def _judge(self, cam: _Camera, frame: FrameDetections, findings: dict[tuple[str, str], _Finding]) -> None:
        need = cam.config.min_frames
        for key in findings.keys() - cam.streaks.keys():
            cam.streaks[key] = _Streak()
        for key, streak in list(cam.streaks.items()):
            finding = findings.get(key)
            if finding is not None:
                streak.seen, streak.missed, streak.finding = streak.seen + 1, 0, finding
                if streak.seen >= need:
                    self._raise(key, streak, finding, frame)
                continue
            streak.seen, streak.missed = 0, streak.missed + 1
            if not streak.active:
                del cam.streaks[key]
            elif streak.missed >= need:
                assert streak.finding is not None
                self._board.clear(streak.finding.subject, key[0], frame.ts)
                del cam.streaks[key]

    def _raise(self, key: tuple[str, str], streak: _Streak, f: _Finding, frame: FrameDetections) -> None:
        kind = {"camera_intruder": K.CAMERA_INTRUDER, "ppe": K.PPE_MISSING, "person_down": K.PERSON_DOWN}[key[0].split(":")[0]]
        self._board.raise_(f.subject, key[0], kind, frame.ts, f.message, priority=f.priority, notify=f.notify, zone=f.zone,
                           model={"name": frame.model, "version": frame.model_version, "sha256": frame.model_sha256})
        if not streak.active:
            streak.active = True
            self._on_alarm(frame, kind)

    # -- helpers ----------------------------------------------------------------------------

    def _zones_of(self, d: Detection) -> tuple[str, ...]:
        """Site zones a detection stands in: its image zones, plus site polygons with a homography."""
        zones = dict.fromkeys(d.zones)
        if d.site_xy is not None:
            x, y = d.site_xy
            zones.update(dict.fromkeys(z for z, poly in self._polygons.items() if poly.contains(x, y)))
        return tuple(z for z in zones if z in self._zones)

    def _match(
        self, cam: _Camera, d: Detection, zones: tuple[str, ...], tags: dict[str, tuple[float, float]]
    ) -> tuple[str | None, str | None, tuple[str, ...]]:
        """(the worker it is, innermost zone, every worker it could be) for one detection:
        the fresh tags within ``tag_match_m`` of its feet, else the fresh tagged occupants of
        its zones. Only a single candidate is a match."""
        zone_id = min(zones, key=self._area.__getitem__, default=None)
        if d.site_xy is not None:
            limit, feet = cam.config.tag_match_m, d.site_xy
            near = sorted((math.dist(xy, feet), w) for w, xy in tags.items() if math.dist(xy, feet) <= limit)
            candidates = tuple(w for _, w in near)
        else:
            candidates = tuple(sorted({w for z in zones for w in self._fusion.zone_occupants(z) if w in tags}))
        return (candidates[0] if len(candidates) == 1 else None), zone_id, candidates

    def _near(self, d: Detection, tags: dict[str, tuple[float, float]]) -> set[str]:
        assert d.site_xy is not None
        return {w for w, xy in tags.items() if math.dist(xy, d.site_xy) <= self._nearby_m}

    def _authorised(self, zone: Zone, worker_id: str) -> bool:
        worker = self._workers.get(worker_id)
        return worker is not None and (worker_id in zone.authorised or zone.id in worker.authorised_zones)

    def _authorised_workers(self, zone: Zone) -> Iterable[str]:
        return (w for w in self._workers if self._authorised(zone, w))


def _one_per_person(detections: list[Detection]) -> list[Detection]:
    """One detection per person: the model gives each person one label, but its class-aware NMS
    can leave overlapping boxes of different labels on one person. Class-agnostic NMS keeps the
    best-scoring one, the model's verdict for that person."""
    if len(detections) < 2:
        return detections
    keep = nms(np.array([d.box for d in detections], np.float32), np.array([d.score for d in detections], np.float32),
               None, SAME_PERSON_IOU, len(detections))
    return [detections[i] for i in keep]


def _assign(people: list[Detection], tags: dict[str, tuple[float, float]], limit: float) -> set[str]:
    """Greedy one-to-one matching, closest pairs first: which tags explain a seen person."""
    pairs = sorted(
        (math.dist(xy, d.site_xy), i, w)  # type: ignore[arg-type]
        for i, d in enumerate(people) for w, xy in tags.items()
    )
    used_people: set[int] = set()
    used_tags: set[str] = set()
    for dist, i, w in pairs:
        if dist > limit:
            break
        if i not in used_people and w not in used_tags:
            used_people.add(i)
            used_tags.add(w)
    return used_tags


def _area(polygon: tuple[tuple[float, float], ...]) -> float:
    """Shoelace area: the innermost of nested zones is the smallest."""
    pts = list(polygon)
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True))) / 2.0


def _camera_label(camera: CameraConfig) -> str:
    return f"Camera {camera.name} ({camera.id})" if camera.name else f"Camera {camera.id}"

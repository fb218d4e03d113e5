"""Scenario files: what happens on the simulated site, and when.

A scenario is a YAML file a site engineer can read. Times are seconds from the
start of the run; events may be listed in any order (they happen in order of
``at``, ties in file order). Each event names exactly one target, ``worker``,
``zone`` or ``detector``, and one or more actions for it::

    name: h2s-leak
    duration_s: 60
    events:
      - at: 30
        zone: tank-2
        gas: {H2S: {to: 25, over_s: 10}}
      - at: 60
        worker: w07
        motion: still
        hr: {to: 35, over_s: 5}

A *ramp* ``{to: V, over_s: S}`` moves a value linearly from wherever it is at
``at`` to ``V`` in ``S`` seconds (``over_s: 0``, the default, is a step).

Worker actions (the worker's devices come from the site file):

- ``position: [x, y] | PLACE`` -- stand there now (site metres; a PLACE is a
  zone id, meaning its centre, or an equipment id, meaning its position).
- ``walk: {to: [WAYPOINT, ...], speed_mps: 1.3, loop: false}`` -- walk the
  waypoints from the current position; ``loop`` repeats the round for ever.
- ``motion: moving | still | fall`` -- ``moving`` is normal work (walking or
  handling things, the accelerometer shows it); ``still`` stops all movement
  (and any walk); ``fall`` is free fall, impact, then lying still.
- ``hr: RAMP`` -- heart rate target in bpm (heat strain: ramp it up).
- ``hr_contact: lost | restored`` -- the chest strap loses skin contact: the
  wearable sends "contact not detected" and no pulse.
- ``battery: RAMP`` -- wearable battery percent (it also drains slowly).
- ``panic: press | cancel`` -- the SOS button; pressed stays pressed until cancelled.
- ``check_in: now | stop | {every_s: S}`` -- one check-in, stop checking in,
  or check in every ``S`` seconds from now on (a lone worker checks in every
  half interval of the site's ``check_in.interval_s`` unless told otherwise).
- ``gps: lost_fix | regained`` -- the GPS tag keeps talking but with an
  invalid fix (GGA quality 0, RMC status V, GSA no fix) until regained.
- ``gas: {GAS: RAMP, ...}`` -- a source next to the worker (an exhaust, an
  opened valve): added to whatever the zone holds, seen by their portable detector.
- ``wearable: offline | online`` -- the wearable stops (or resumes) publishing.

Zone actions:

- ``gas: {GAS: RAMP, ...}`` -- the zone's concentration; fixed detectors in
  the zone and portable detectors of workers inside it see it.

Detector actions:

- ``gas: {GAS: RAMP, ...}`` -- a leak at this detector only, added to its zone's value.
- ``drift: {GAS: RAMP, ...}`` -- the sensor's zero drifts by this offset, which may
  take the reading below 0 (a Modbus head reports it signed; a Winsen frame cannot).
- ``fault: sensor_fault | calibration_due | warming_up | cleared`` -- a fixed
  (Modbus) detector reports a fault in its status register, or stops reporting it.
- ``link: offline | online`` -- the detector stops (or resumes) reporting.

Top-level keys: ``name``, ``description``, ``duration_s``, ``background``
(site-wide ambient per gas; defaults: O2 20.9 %vol, others 0) and ``wiring``
(which devices are cabled straight to the edge instead of through the
multi-tag gateway; see docs/scenarios.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, model_validator

from edge_runtime.config import SiteConfig
from edge_runtime.config.base import StrictModel
from firmware_bridge.codecs.modbus_detector import FAULT_BITS
from firmware_bridge.errors import BridgeError
from firmware_bridge.readings import Gas

TARGETS = ("worker", "zone", "detector")

Waypoint = tuple[float, float] | str


class ScenarioError(BridgeError, ValueError):
    """A scenario file that cannot run; ``problems`` lists ``(key, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


class Ramp(StrictModel):
    """Move a value linearly to ``to`` within ``over_s`` seconds (0 = at once)."""

    to: float
    over_s: float = Field(0.0, ge=0)


class Walk(StrictModel):
    """Walk through waypoints (site metres or a zone/equipment id) from where the worker is."""

    to: tuple[Waypoint, ...] = Field(min_length=1)
    speed_mps: float = Field(1.3, gt=0, le=10, description="Walking pace is about 1.3 m/s")
    loop: bool = Field(False, description="Repeat the round (back to the first waypoint) for ever")


class CheckInEvery(StrictModel):
    every_s: float = Field(gt=0)


GasRamps = dict[Gas, Ramp]


class _Event(StrictModel):
    at: float = Field(ge=0, description="Seconds from the start of the run")

    @property
    def target(self) -> str:
        """``worker:w07``, ``zone:tank-2``: who the event is about, for logs."""
        kind = next(k for k in TARGETS if k in type(self).model_fields)
        return f"{kind}:{getattr(self, kind)}"

    @property
    def actions(self) -> dict[str, Any]:
        """The actions this event sets, as written (JSON-friendly)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"at", *TARGETS})

    @model_validator(mode="after")
    def _has_action(self) -> _Event:
        if not self.actions:
            raise ValueError("an event needs at least one action")
        return self


class WorkerEvent(_Event):
    worker: str
    position: Waypoint | None = None
    walk: Walk | None = None
    motion: Literal["moving", "still", "fall"] | None = None
    hr: Ramp | None = None
    hr_contact: Literal["lost", "restored"] | None = None
    battery: Ramp | None = None
    panic: Literal["press", "cancel"] | None = None
    check_in: Literal["now", "stop"] | CheckInEvery | None = None
    gps: Literal["lost_fix", "regained"] | None = None
    gas: GasRamps | None = None
    wearable: Literal["offline", "online"] | None = None

    @model_validator(mode="after")
    def _walk_needs_motion(self) -> WorkerEvent:
        if self.walk is not None and self.motion in ("still", "fall"):
            raise ValueError(f"cannot walk and be {self.motion} in the same event")
        return self


class ZoneEvent(_Event):
    zone: str
    gas: GasRamps = Field(min_length=1)


class DetectorEvent(_Event):
    detector: str
    gas: GasRamps | None = None
    drift: GasRamps | None = Field(None, description="zero offset of the sensor (may go negative)")
    fault: str | None = Field(None, min_length=1, description="Modbus status fault name, or 'cleared'")
    link: Literal["offline", "online"] | None = None


def _event_target(value: Any) -> str | None:
    if isinstance(value, dict):
        named = [k for k in TARGETS if k in value]
        return named[0] if len(named) == 1 else None
    return next((k for k in TARGETS if hasattr(value, k)), None)


Event = Annotated[
    Annotated[WorkerEvent, Tag("worker")]
    | Annotated[ZoneEvent, Tag("zone")]
    | Annotated[DetectorEvent, Tag("detector")],
    Discriminator(
        _event_target,
        custom_error_type="event_target",
        custom_error_message="an event names exactly one of: worker, zone, detector",
    ),
]


class Wiring(StrictModel):
    """Devices cabled straight to the edge; everything else goes through the gateway.

    ``None`` means the default: the first GPS tag (site-file order) on its own
    NMEA port and the first portable detector on its own Winsen UART, so every
    serial codec is exercised. ``[]`` routes all of that kind via the gateway.
    """

    direct_nmea: tuple[str, ...] | None = Field(None, description="GPS tag ids with their own NMEA port")
    direct_winsen: tuple[str, ...] | None = Field(None, description="Portable detector ids on their own UART")


class Scenario(StrictModel):
    """One scenario file. ``events`` keep the file's order (so errors name the
    entry as written); :attr:`in_order` is the order they happen in."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0, description="How long the scenario runs (events may end earlier)")
    background: dict[Gas, float] = Field(default_factory=dict, description="Ambient per gas, site-wide")
    wiring: Wiring = Wiring()
    events: tuple[Event, ...] = ()

    @model_validator(mode="after")
    def _within_duration(self) -> Scenario:
        late = [f"events.{i}.at" for i, e in enumerate(self.events) if e.at > self.duration_s]
        if late:
            raise ValueError(f"{', '.join(late)}: after duration_s ({self.duration_s:g} s)")
        return self

    @property
    def in_order(self) -> list[WorkerEvent | ZoneEvent | DetectorEvent]:
        """The events in the order they happen (ties keep file order)."""
        return sorted(self.events, key=lambda e: e.at)

    def check(self, config: SiteConfig) -> None:
        """Raise :class:`ScenarioError` if an event names what the site does not have."""
        problems = _site_problems(self, config)
        if problems:
            raise ScenarioError(problems)


def _site_problems(scenario: Scenario, config: SiteConfig) -> list[tuple[str, str]]:
    workers = {w.id: w for w in config.workers}
    zones = {z.id for z in config.zones}
    detectors = {d.id: d for d in config.detectors}
    places = zones | {e.id for e in config.equipment if e.position is not None}
    problems: list[tuple[str, str]] = []

    def place(key: str, p: Waypoint) -> None:
        if isinstance(p, str) and p not in places:
            problems.append((key, f"unknown place {p!r} (a zone id or an equipment id with a position)"))

    for i, e in enumerate(scenario.events):
        key = f"events.{i}"
        if isinstance(e, WorkerEvent):
            w = workers.get(e.worker)
            if w is None:
                problems.append((f"{key}.worker", f"unknown worker {e.worker!r}"))
                continue
            if e.position is not None:
                place(f"{key}.position", e.position)
            for j, p in enumerate(e.walk.to if e.walk else ()):
                place(f"{key}.walk.to.{j}", p)
            needs = {"wearable": w.wearable, "gps": w.gps, "detector": w.detector}
            for action, device in _WORKER_DEVICE.items():
                if getattr(e, action) is not None and needs[device] is None:
                    problems.append((f"{key}.{action}", f"worker {e.worker!r} has no {device}"))
        elif isinstance(e, ZoneEvent):
            if e.zone not in zones:
                problems.append((f"{key}.zone", f"unknown zone {e.zone!r}"))
        else:
            d = detectors.get(e.detector)
            if d is None:
                problems.append((f"{key}.detector", f"unknown detector {e.detector!r}"))
                continue
            if e.fault is not None and d.kind != "fixed":
                problems.append((f"{key}.fault", "only fixed (Modbus) detectors report faults"))
            elif e.fault not in (None, "cleared", *FAULT_BITS):
                problems.append((f"{key}.fault", f"unknown fault {e.fault!r}; known: cleared, {', '.join(FAULT_BITS)}"))
            for g in e.gas or {}:
                if d.gases and g not in d.gases:
                    problems.append((f"{key}.gas.{g.value}", f"detector {d.id!r} does not measure {g.value}"))
    gps_tags = {w.gps for w in config.workers if w.gps}
    portables = {d.id for d in config.detectors if d.kind == "portable"}
    for field, known, what in (("direct_nmea", gps_tags, "GPS tag"), ("direct_winsen", portables, "portable detector")):
        for j, device in enumerate(getattr(scenario.wiring, field) or ()):
            if device not in known:
                problems.append((f"wiring.{field}.{j}", f"unknown {what} {device!r}"))
    return problems


# Which of the worker's devices an action needs.
_WORKER_DEVICE = {
    "hr": "wearable",
    "hr_contact": "wearable",
    "battery": "wearable",
    "panic": "wearable",
    "check_in": "wearable",
    "wearable": "wearable",
    "gps": "gps",
    "gas": "detector",
}


def parse_scenario(data: object, config: SiteConfig | None = None) -> Scenario:
    """Validate parsed YAML into a :class:`Scenario` (and against ``config`` when given)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc)) from None
    if config is not None:
        scenario.check(config)
    return scenario


def load_scenario(path: str | Path, config: SiteConfig | None = None) -> Scenario:
    """Read a scenario file; raises :class:`ScenarioError` naming each problem's key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError([("<file>", f"cannot read {path}: {exc.strerror or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([("<yaml>", str(exc).replace("\n", " "))]) from None
    if not isinstance(data, dict):
        raise ScenarioError([("<root>", "a scenario file must be a mapping")])
    return parse_scenario(data, config)


def shipped_scenario(name: str) -> Path:
    """Path of a scenario shipped in ``edge_runtime/sim/scenarios`` (e.g. ``demo.yaml``)."""
    return Path(str(resources.files("edge_runtime.sim.scenarios").joinpath(name)))


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [str(p) for i, p in enumerate(err["loc"]) if not _union_label(i, p, err["loc"])]
        out.append((".".join(loc) or "<root>", err["msg"].removeprefix("Value error, ")))
    return out


def _union_label(i: int, part: object, loc: tuple[object, ...]) -> bool:
    """Pydantic puts the union member it tried into the key; a site engineer wants the field path."""
    if i == 2 and loc[0] == "events" and part in TARGETS:
        return True  # events.0.worker.hr -> events.0.hr
    return isinstance(part, str) and (part.startswith(("literal[", "tuple[")) or part in _UNION_MEMBERS)


_UNION_MEMBERS = {"str", CheckInEvery.__name__}

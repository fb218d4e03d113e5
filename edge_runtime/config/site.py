"""The whole site file, its cross-reference checks and its loader.

Every error is reported as ``key.path: problem`` so ``siteguard check-config``
and the daemon can exit with code 2 naming exactly what to fix.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from .alarms import AlarmSettings
from .base import StrictModel
from .cameras import CameraConfig, VisionSettings
from .dashboard import DashboardSettings
from .devices import ControllerSettings, Detector, HttpSettings, MqttSettings, SerialPort, StorageSettings
from .gas import GasSettings
from .people import BatterySettings, CheckInSettings, HeartRateSettings, ManDownSettings, Worker
from .zones import Equipment, PositionSettings, ProximitySettings, SiteInfo, Zone


class ConfigError(ValueError):
    """A site file that cannot run; ``problems`` lists ``(key, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


class SiteConfig(StrictModel):
    site: SiteInfo
    workers: tuple[Worker, ...] = ()
    zones: tuple[Zone, ...] = ()
    detectors: tuple[Detector, ...] = ()
    equipment: tuple[Equipment, ...] = ()
    gas: GasSettings = GasSettings()
    heart_rate: HeartRateSettings = HeartRateSettings()
    man_down: ManDownSettings = ManDownSettings()
    check_in: CheckInSettings = CheckInSettings()
    battery: BatterySettings = BatterySettings()
    positions: PositionSettings = PositionSettings()
    proximity: ProximitySettings = ProximitySettings()
    alarms: AlarmSettings = AlarmSettings()
    serial: tuple[SerialPort, ...] = ()
    controller: ControllerSettings | None = None
    mqtt: MqttSettings = MqttSettings()
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    cameras: tuple[CameraConfig, ...] = ()
    vision: VisionSettings = VisionSettings()
    dashboard: DashboardSettings = DashboardSettings()
    device_id: str = Field("edge-1", pattern=r"^[A-Za-z0-9_.-]+$", description="This edge node's id")

    @model_validator(mode="after")
    def _cross_references(self) -> "SiteConfig":
        problems: list[str] = []
        zone_ids = _unique("zones", [z.id for z in self.zones], problems)
        worker_ids = _unique("workers", [w.id for w in self.workers], problems)
        detector_ids = _unique("detectors", [d.id for d in self.detectors], problems)
        for i, w in enumerate(self.workers):
            if w.detector and w.detector not in detector_ids:
                problems.append(f"workers.{i}.detector: unknown detector {w.detector!r}")
            for z in w.authorised_zones:
                if z not in zone_ids:
                    problems.append(f"workers.{i}.authorised_zones: unknown zone {z!r}")
        for i, d in enumerate(self.detectors):
            if d.kind == "fixed" and d.zone not in zone_ids:
                problems.append(f"detectors.{i}.zone: a fixed detector needs a known zone, got {d.zone!r}")
        for i, z in enumerate(self.zones):
            if z.attendant and z.attendant not in worker_ids:
                problems.append(f"zones.{i}.attendant: unknown worker {z.attendant!r}")
            for a in z.authorised:
                if a not in worker_ids:
                    problems.append(f"zones.{i}.authorised: unknown worker {a!r}")
        for i, p in enumerate(self.serial):
            if p.protocol in ("nmea", "winsen") and not p.device:
                problems.append(f"serial.{i}.device: a {p.protocol} port needs the id of its device")
            if p.protocol == "modbus" and not p.modbus:
                problems.append(f"serial.{i}.modbus: a modbus port needs at least one unit to poll")
            for j, m in enumerate(p.modbus):
                if m.detector not in detector_ids:
                    problems.append(f"serial.{i}.modbus.{j}.detector: unknown detector {m.detector!r}")
        _unique("cameras", [c.id for c in self.cameras], problems)
        for i, c in enumerate(self.cameras):
            for j, view in enumerate(c.zones):
                if view.zone not in zone_ids:
                    problems.append(f"cameras.{i}.zones.{j}.zone: unknown zone {view.zone!r}")
        _unique("dashboard.accounts", [a.name for a in self.dashboard.accounts], problems)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def worker(self, worker_id: str) -> Worker | None:
        return next((w for w in self.workers if w.id == worker_id), None)


def _unique(section: str, ids: list[str], problems: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            problems.append(f"{section}.{i}.id: duplicate id {x!r}")
        seen.add(x)
    return seen


def parse_config(data: object) -> SiteConfig:
    """Validate already-parsed YAML/JSON data into a :class:`SiteConfig`."""
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raises :class:`ConfigError` on any problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("<file>", f"cannot read {path}: {exc.strerror or exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([("<yaml>", str(exc).replace("\n", " "))]) from None
    if not isinstance(data, dict):
        raise ConfigError([("<root>", "the site file must be a mapping")])
    return parse_config(data)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "value_error" and "\n" in msg or msg.startswith("Value error, "):
            # cross-reference problems carry their own key paths, one per line
            for line in msg.removeprefix("Value error, ").splitlines():
                k, _, m = line.partition(": ")
                out.append((k, m) if m else (key, line))
            continue
        out.append((key, msg))
    return out

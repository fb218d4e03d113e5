"""The whole site file, its cross-reference checks and its loader.

Every error is reported as ``key.path: problem`` so ``siteguard check-config``
and the daemon can exit with code 2 naming exactly what to fix.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from .alarms import AlarmSettings
from .base import ConfigError, Id, StrictModel
from .cameras import CameraConfig, VisionSettings
from .dashboard import DashboardSettings
from .devices import ControllerSettings, Detector, HttpSettings, MqttSettings, SerialPort, StorageSettings
from .gas import GasSettings
from .people import BatterySettings, CheckInSettings, HeartRateSettings, ManDownSettings, Worker
from .risk import RiskSettings
from .site_file import read_site_file
from .sync import SyncSettings
from .updates import UpdateSettings
from .zones import Equipment, PositionSettings, ProximitySettings, SiteInfo, Zone

Problems = list[tuple[str, str]]


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
    risk: RiskSettings = RiskSettings()
    dashboard: DashboardSettings = DashboardSettings()
    sync: SyncSettings = SyncSettings()
    updates: UpdateSettings = UpdateSettings()
    device_id: Id = Field("edge-1", description="This edge node's id (its MQTT client and status topic)")

    @model_validator(mode="after")
    def _cross_references(self) -> "SiteConfig":
        problems: Problems = []
        zone_ids = _unique("zones", [z.id for z in self.zones], problems)
        worker_ids = _unique("workers", [w.id for w in self.workers], problems)
        detector_ids = _unique("detectors", [d.id for d in self.detectors], problems)
        _unique("equipment", [e.id for e in self.equipment], problems)
        _unique("cameras", [c.id for c in self.cameras], problems)
        _unique("dashboard.accounts", [a.name for a in self.dashboard.accounts], problems, field="name")
        self._worker_references(zone_ids, detector_ids, problems)
        self._device_owners(problems)
        for i, d in enumerate(self.detectors):
            if d.kind == "fixed" and d.zone not in zone_ids:
                problems.append((f"detectors.{i}.zone", f"a fixed detector needs a known zone, got {d.zone!r}"))
        for i, z in enumerate(self.zones):
            if z.attendant and z.attendant not in worker_ids:
                problems.append((f"zones.{i}.attendant", f"unknown worker {z.attendant!r}"))
            for a in z.authorised:
                if a not in worker_ids:
                    problems.append((f"zones.{i}.authorised", f"unknown worker {a!r}"))
        self._serial_references(detector_ids, problems)
        self._broker_accounts(zone_ids, problems)
        for i, c in enumerate(self.cameras):
            for j, view in enumerate(c.zones):
                if view.zone not in zone_ids:
                    problems.append((f"cameras.{i}.zones.{j}.zone", f"unknown zone {view.zone!r}"))
        self._sync_credential(problems)
        if self.updates.enabled and not self.sync.enabled:
            problems.append(("updates.enabled", "needs sync.enabled (the cloud's url and this device's credential)"))
        if problems:
            raise ConfigError(problems)
        return self

    def _worker_references(self, zone_ids: set[str], detector_ids: set[str], problems: Problems) -> None:
        for i, w in enumerate(self.workers):
            if w.detector and w.detector not in detector_ids:
                problems.append((f"workers.{i}.detector", f"unknown detector {w.detector!r}"))
            for z in w.authorised_zones:
                if z not in zone_ids:
                    problems.append((f"workers.{i}.authorised_zones", f"unknown zone {z!r}"))

    def _device_owners(self, problems: Problems) -> None:
        """A worn device belongs to one worker (one tag to one worker or machine): a panic
        press or a gas reading on a shared one would alarm for the wrong person."""
        wearables: dict[str, str] = {}
        detectors: dict[str, str] = {}
        tags: dict[str, str] = {}
        for i, w in enumerate(self.workers):
            for owners, what, device in ((wearables, "wearable", w.wearable), (detectors, "detector", w.detector),
                                         (tags, "gps", w.gps)):
                if device:
                    _claim(owners, device, f"workers.{i}.{what}", what, problems)
        for i, e in enumerate(self.equipment):
            if e.gps:
                _claim(tags, e.gps, f"equipment.{i}.gps", "gps", problems)

    def _serial_references(self, detector_ids: set[str], problems: Problems) -> None:
        """Each port opened once, each device read from one place, each Modbus unit polled once per bus."""
        ports: dict[str, str] = {}
        read_at: dict[str, str] = {}
        for i, p in enumerate(self.serial):
            _claim(ports, p.port, f"serial.{i}.port", "port", problems)
            if p.protocol in ("nmea", "winsen") and not p.device:
                problems.append((f"serial.{i}.device", f"a {p.protocol} port needs the id of its device"))
            if p.device:
                _claim(read_at, p.device, f"serial.{i}.device", "device", problems)
            for address, device in p.gateway_devices.items():
                _claim(read_at, device, f"serial.{i}.gateway_devices.{address}", "device", problems)
            if p.protocol == "modbus" and not p.modbus:
                problems.append((f"serial.{i}.modbus", "a modbus port needs at least one unit to poll"))
            units: dict[str, str] = {}
            for j, m in enumerate(p.modbus):
                _claim(units, str(m.unit), f"serial.{i}.modbus.{j}.unit", "unit", problems)
                _claim(read_at, m.detector, f"serial.{i}.modbus.{j}.detector", "device", problems)
                if m.detector not in detector_ids:
                    problems.append((f"serial.{i}.modbus.{j}.detector", f"unknown detector {m.detector!r}"))

    def _broker_accounts(self, zone_ids: set[str], problems: Problems) -> None:
        """Each account once (and not the daemon's own), gateways carrying known wearables, each wearable once."""
        names: dict[str, str] = {}
        if self.mqtt.username:
            names[self.mqtt.username] = "mqtt.username"
        worn = {w.wearable for w in self.workers if w.wearable}
        carried: dict[str, str] = {}
        for i, a in enumerate(self.mqtt.accounts):
            _claim(names, a.name, f"mqtt.accounts.{i}.name", "account", problems)
            for j, wearable in enumerate(a.wearables):
                key = f"mqtt.accounts.{i}.wearables.{j}"
                if a.role != "gateway":
                    problems.append((key, f"only a gateway carries wearables, not a {a.role}"))
                elif wearable not in worn:
                    problems.append((key, f"no worker wears {wearable!r}"))
                else:
                    _claim(carried, wearable, key, "wearable", problems)
            for j, zone in enumerate(a.zones):
                if a.role != "siren" or zone not in zone_ids:
                    problems.append((f"mqtt.accounts.{i}.zones.{j}", f"only a siren sounds zones, and {zone!r} must "
                                     "be a known zone"))

    def _sync_credential(self, problems: Problems) -> None:
        """An enabled agent needs a credential issued to this device: another's would have every request refused."""
        if self.sync.enabled:
            try:
                self.sync.credential(self.device_id)
            except ValueError as exc:
                problems.append(("sync.credential_file", str(exc)))

    def console_role(self, account: str) -> str | None:
        """'supervisor' or 'operator' for an account that may acknowledge alarms over MQTT, else None."""
        for a in self.mqtt.accounts:
            if a.name == account and a.role in ("supervisor", "operator"):
                return a.role
        return None

    def worker(self, worker_id: str) -> Worker | None:
        return next((w for w in self.workers if w.id == worker_id), None)

    def roster(self) -> dict[str, list[str]]:
        """Which sensors belong to whom: ``worker`` -> its wearable, detector and GPS tag ids, and ``zone:<id>``
        -> the zone's fixed detectors. The cloud reads readings' sensor ids through it (docs/trainer.md)."""
        roster = {w.id: [d for d in (w.wearable, w.detector, w.gps) if d] for w in self.workers}
        for d in self.detectors:
            if d.kind == "fixed" and d.zone:
                roster.setdefault(f"zone:{d.zone}", []).append(d.id)
        return roster


def _unique(section: str, ids: list[str], problems: Problems, field: str = "id") -> set[str]:
    owners: dict[str, str] = {}
    for i, x in enumerate(ids):
        _claim(owners, x, f"{section}.{i}.{field}", field, problems)
    return set(owners)


def _claim(owners: dict[str, str], value: str, key: str, what: str, problems: Problems) -> None:
    """Record that ``key`` holds ``value``; a later key holding the same value is a problem naming both."""
    if value in owners:
        problems.append((key, f"duplicate {what} {value!r} (already used by {owners[value]})"))
    else:
        owners[value] = key


def parse_config(data: object) -> SiteConfig:
    """Validate already-parsed YAML/JSON data into a :class:`SiteConfig`."""
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raises :class:`ConfigError` on any problem.

    ``check-config``, ``run`` and ``accounts`` all load through here, so a file
    that passes ``check-config`` is exactly one the daemon accepts."""
    data = read_site_file(path)
    if not isinstance(data, dict):
        raise ConfigError([("<root>", "the site file must be a mapping")])
    return parse_config(data)


def _problems(exc: ValidationError) -> Problems:
    out: Problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):  # a model-level check naming keys relative to its model
            out += [(".".join([*loc, k]), m) for k, m in cause.problems]
        else:
            out.append((".".join(loc) or "<root>", err["msg"].removeprefix("Value error, ")))
    return out

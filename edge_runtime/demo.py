"""`siteguard demo`: a simulated site end to end on embedded defaults.

Brings up (or reuses) a Mosquitto on loopback, the emulated sensor firmware on
pseudo-terminals driven by a scenario, and the real daemon reading those ports,
then prints every alarm as it happens and where to look. Unless ``--no-cloud``,
it also runs a local cloud service (demo_cloud.py) with the demo device
registered, and the daemon's sync agent uploads to it; SIGUSR1 pulls the
cloud down and brings it back.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from edge_runtime.alarms.model import Alarm, AlarmTransition, PreAlarm, TransitionCause
from edge_runtime.config import SiteConfig, parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime import demo_loop
from edge_runtime.demo_cloud import ADMIN, DemoCloud
from edge_runtime.broker_acl import BrokerFiles, site_accounts, write_broker_files
from edge_runtime.local_broker import LocalBroker, port_open
from edge_runtime.sim.camera import add_demo_cameras
from edge_runtime.sim.scenario import Scenario, load_scenario
from edge_runtime.sim.site_sim import SiteSimulator
from edge_runtime.sim.supervisor import SimulatedSupervisor
from models.signing import PUBLIC_KEY_FILE
from web_common.passwords import hash_password

HOST = "127.0.0.1"
DEMO_LOGIN = ("supervisor", "siteguard-demo")  # name, password: printed in the banner
_SHOWN = {TransitionCause.RAISED, TransitionCause.ESCALATED, TransitionCause.ACKNOWLEDGED, TransitionCause.CLOSED,
          TransitionCause.SCORED}


def demo_site_data() -> dict[str, Any]:
    """The shipped demo site (workers, zones, detectors, shortened demo timers)."""
    text = resources.files("edge_runtime.sim").joinpath("demo_site.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def with_demo_account(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with a supervisor account for the dashboard, hashed now: no hash ships in the package."""
    name, password = DEMO_LOGIN
    account = {"name": name, "display_name": "Demo supervisor", "role": "supervisor",
               "password_hash": hash_password(password)}
    dashboard = dict(base.get("dashboard") or {})
    dashboard["accounts"] = [*dashboard.get("accounts", []), account]
    return {**base, "dashboard": dashboard}


def resolve_scenario(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if not path.exists():
        path = Path(str(resources.files("edge_runtime.sim").joinpath("scenarios", name_or_path)))
    return load_scenario(path)


CONTROL_ROOM = "control-room"  # the demo's supervisor console on the broker
GATEWAY = "wearable-gateway"  # the simulator's wearables reach the broker through it
DAEMON_ACCOUNT = "siteguard-edge"


def demo_accounts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo broker's accounts: a supervisor and an operator console, the simulator's
    wearable gateway carrying every wearable, and the siren controllers."""
    wearables = [w["wearable"] for w in data.get("workers", []) if w.get("wearable")]
    return [
        {"name": CONTROL_ROOM, "role": "supervisor"},
        {"name": "gatehouse", "role": "operator"},
        {"name": GATEWAY, "role": "gateway", "wearables": wearables},
        {"name": "sirens", "role": "siren"},
    ]


def _demo_mqtt(data: dict[str, Any]) -> dict[str, Any]:
    """The site file's broker accounts: the daemon's own and demo_accounts."""
    return {"username": DAEMON_ACCOUNT, "accounts": demo_accounts(data)}


def demo_broker_files(base: dict[str, Any], directory: Path) -> BrokerFiles:
    """Accounts and ACL for the demo's own broker: the site locked down as on a real one."""
    config = parse_config({**base, "mqtt": _demo_mqtt(base)})
    return write_broker_files(directory, config.site.id, site_accounts(config))


def demo_config(
    base: dict[str, Any], sim: SiteSimulator, *, mqtt_port: int, http_port: int, data_dir: Path,
    broker: BrokerFiles | None = None, cloud: DemoCloud | None = None,
) -> SiteConfig:
    """The daemon's site file: the demo site plus the ports the simulator created
    (the daemon's broker password where the demo runs the broker with accounts,
    and sync to the demo's cloud where it runs one)."""
    data = dict(base)
    data["serial"] = [p.model_dump(mode="json") for p in sim.serial_ports()]
    controller = sim.controller_settings()
    if controller is not None:
        data["controller"] = controller.model_dump(mode="json")
    data["mqtt"] = {"host": HOST, "port": mqtt_port, **_demo_mqtt(data)}
    if broker is not None:
        data["mqtt"]["password"] = broker.passwords[DAEMON_ACCOUNT]
    data["storage"] = {"path": str(data_dir / "siteguard.db")}
    data["http"] = {"host": HOST, "port": http_port}
    if cloud is not None:
        # Heartbeats every 5 s so the console shows the device going offline within seconds; snapshots at any hour.
        data["sync"] = {"enabled": True, "url": cloud.url, "credential_file": str(cloud.credential_file),
                        "heartbeat_interval_s": 5.0, "lanes": {"snapshots": {"schedule": []}}}
    return parse_config(data)


class AlarmPrinter:
    """Human-readable alarm lines on stdout, and when each kind was first seen."""

    def __init__(self, started: float) -> None:
        self._started = started
        self.raised: Counter[str] = Counter()
        self.first_seen_s: dict[str, float] = {}

    def on_transition(self, t: AlarmTransition) -> None:
        if t.cause not in _SHOWN:
            return
        if t.cause in (TransitionCause.RAISED, TransitionCause.ESCALATED):
            self.raised[t.alarm.kind.value] += t.cause is TransitionCause.RAISED
            self.first_seen_s.setdefault(t.alarm.kind.value, round(t.ts - self._started, 1))
        a = t.alarm
        print(
            f"[{t.ts - self._started:7.1f}s] {t.cause.value:<12} {a.priority.name:<8} {a.kind.value:<18} "
            f"{str(a.subject):<18} {a.message}{_models(a)}",
            flush=True,
        )

    def on_pre_alarm(self, p: PreAlarm) -> None:
        state = "cancelled" if p.cancelled else f"alarm in {max(0.0, p.deadline_ts - p.ts):.0f}s unless cancelled"
        print(f"[{p.ts - self._started:7.1f}s] pre-alarm    {p.kind.value:<27} worker:{p.worker:<11} {state}", flush=True)


def with_model_updates(base: dict[str, Any], cloud_key: bytes) -> dict[str, Any]:
    """The demo site with its update agent on (quick polls, for the loop) trusting the demo cloud's signing key
    beside the shipped camera model's."""
    shipped = (Path(str(resources.files("models"))) / "camera" / "default" / PUBLIC_KEY_FILE).read_text().strip()
    data = dict(base)
    data["updates"] = {"enabled": True, "poll_interval_s": 2.0, "report_interval_s": demo_loop.REPORT_INTERVAL_S}
    data["vision"] = {**data.get("vision", {}), "trusted_keys": {"siteguard": shipped, "demo-cloud": cloud_key.hex()}}
    return data


def _models(a: Alarm) -> str:
    """The models behind an alarm line: the detector that raised it, the risk model that scored it."""
    parts = []
    if a.model:
        parts.append(f"detector {a.model.get('name')} {a.model.get('version')}")
    if a.risk_score is not None and a.risk_model:
        parts.append(f"risk {a.risk_score:.0%} by {a.risk_model.get('name')} {a.risk_model.get('version')}")
    return f"  [{'; '.join(parts)}]" if parts else ""


async def run_demo(
    *,
    duration_s: float | None,
    mqtt_port: int,
    http_port: int,
    data_dir: Path | None = None,
    scenario: str | None = None,
    cloud_port: int | None = None,
    loop: bool = False,
) -> int:
    """The demo; with ``loop`` (needs the cloud) the model loop too (demo_loop.py), on its own scenario."""
    if loop and cloud_port is None:
        raise ValueError("the model loop needs the demo's cloud: leave out --no-cloud")
    scenario = scenario or ("loop.yaml" if loop else "demo.yaml")
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="siteguard-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    base = demo_site_data()
    sim_config = parse_config(base)
    auth = None if port_open(HOST, mqtt_port) else demo_broker_files(base, data_dir / "broker")
    broker = None if auth is None else LocalBroker(mqtt_port, HOST, auth=auth).start()
    sim = SiteSimulator(
        sim_config, resolve_scenario(scenario), pty_dir=data_dir / "pty", mqtt_host=HOST, mqtt_port=mqtt_port,
        mqtt_credentials=None if auth is None else (GATEWAY, auth.passwords[GATEWAY]),
    )
    await sim.start()
    print("rendering the demo camera's video of the simulated site ...", flush=True)
    base = await asyncio.to_thread(add_demo_cameras, base, sim.world, sim.scenario, data_dir,
                                   duration_s or sim.scenario.duration_s)
    base = await asyncio.to_thread(with_demo_account, base)
    cloud = None
    token = None
    if cloud_port is not None:
        cloud = DemoCloud(data_dir, cloud_port, device_id=sim_config.device_id, site=sim_config.site.id)
        if loop:
            cloud.report_interval_s = demo_loop.REPORT_INTERVAL_S
            base = with_model_updates(base, cloud.signing_public_key())
        await asyncio.to_thread(cloud.prepare)
        await asyncio.to_thread(cloud.start)
        if loop:
            token = await demo_loop.prepare(cloud, sim_config.device_id)
    config = demo_config(base, sim, mqtt_port=mqtt_port, http_port=http_port, data_dir=data_dir, broker=auth,
                         cloud=cloud)
    daemon = EdgeDaemon(config)
    printer = AlarmPrinter(time.time())
    daemon.bus.subscribe(AlarmTransition, printer.on_transition)
    daemon.bus.subscribe(PreAlarm, printer.on_pre_alarm)
    supervisor = SimulatedSupervisor(daemon.alarms) if loop else None
    if supervisor is not None:
        daemon.bus.subscribe(AlarmTransition, supervisor.on_transition)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if cloud is not None:
        loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(_toggle(cloud)))
    try:
        await daemon.start()
        _print_banner(config, daemon, auth, data_dir, duration_s, cloud, loop)
        sim_task = asyncio.create_task(sim.run(duration_s or (sim.scenario.duration_s if loop else None)))
        waiters = [asyncio.create_task(stop.wait()), sim_task]
        if cloud is not None and token is not None:
            watcher = demo_loop.LoopWatcher(cloud.url, token, config.device_id, daemon.updates.status)
            waiters.append(asyncio.create_task(watcher.run()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    finally:
        if supervisor is not None:
            supervisor.stop()
        await daemon.stop()
        await sim.stop()
        if broker:
            broker.stop()
        if cloud is not None:
            await asyncio.to_thread(cloud.stop_worker)
            await asyncio.to_thread(cloud.stop)
    summary = {
        "alarms_raised": dict(sorted(printer.raised.items())),
        "first_seen_s": dict(sorted(printer.first_seen_s.items(), key=lambda kv: kv[1])),
        "database": str(config.storage.path),
    }
    print("demo finished: " + json.dumps(summary), flush=True)
    return 0


async def _toggle(cloud: DemoCloud) -> None:
    """SIGUSR1: the uplink goes away (the backlog builds up) or comes back (it drains, alarms first)."""
    try:
        running = await asyncio.to_thread(cloud.toggle)
    except RuntimeError as exc:
        print(f"cloud: {exc}", flush=True)
        return
    print(f"cloud {'back up: the backlog drains' if running else 'pulled down: the backlog builds up'}", flush=True)


def _print_banner(config: SiteConfig, daemon: EdgeDaemon, auth: BrokerFiles | None, data_dir: Path,
                  duration: float | None, cloud: DemoCloud | None, loop: bool) -> None:
    site = config.site.id
    where = f"-h {config.mqtt.host} -p {config.mqtt.port}"
    if auth is None:
        broker, console = f"{config.mqtt.host}:{config.mqtt.port} (already running, as it is)", ""
    else:
        broker = (f"{config.mqtt.host}:{config.mqtt.port} (started for the demo with accounts and an ACL; "
                  f"passwords in {auth.secrets})")
        console = f" -u {CONTROL_ROOM} -P {auth.passwords[CONTROL_ROOM]}"
    lines = [
        f"SiteGuard demo — site {site}: {len(config.workers)} workers, {len(config.zones)} zones, "
        f"{len(config.detectors)} detectors, {len(config.serial)} serial ports",
        f"  broker    {broker}",
        f"  watch     mosquitto_sub {where}{console} -t 'siteguard/{site}/alarms/+' -v",
        f"  ack       mosquitto_pub {where}{console} -t 'siteguard/{site}/alarms/<alarm_id>/ack/{CONTROL_ROOM}' "
        "-m '{\"verdict\": \"confirmed\"}'",
        f"  dashboard {daemon.http.url}/   sign in as {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}",
        f"  health    {daemon.http.url}/healthz   ready: {daemon.http.url}/readyz",
        f"  database  {config.storage.path}",
    ]
    if cloud is not None:
        lines += [
            f"  cloud     {cloud.url}/console/   sign in as {ADMIN} / {cloud.admin_password}",
            f"            device {config.device_id} syncs to it; kill -USR1 {os.getpid()} pulls it down / back up",
        ]
    if loop:
        lines.append("  loop      a simulated supervisor judges each alarm; the verdicts retrain the risk model in the "
                     "cloud, which rolls it out here (console: Training, Rollouts; alarm lines: 'risk .. by')")
    lines.append(f"  runs      {'for %.0f s' % duration if duration else 'until Ctrl-C'}")
    print("\n".join(lines), file=sys.stdout, flush=True)

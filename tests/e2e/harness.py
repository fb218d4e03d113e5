"""End-to-end harness: the demo site's emulated firmware on real ptys, a real
Mosquitto, and the real daemon (in this process, or as a child to SIGKILL)."""
from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import yaml

from edge_runtime.config import SiteConfig, parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.demo import demo_config, demo_site_data
from edge_runtime.sim.scenario import load_scenario, shipped_scenario
from edge_runtime.sim.site_sim import SiteSimulator
from tests.broker import Received

REPO = Path(__file__).resolve().parents[2]
SITE = "demo-site"


def topic(*parts: str) -> str:
    return "/".join(("siteguard", SITE, *parts))


def payload(msg: Received) -> dict[str, object]:
    return json.loads(msg.payload) if msg.payload else {}


def is_alert(worker: str, kind_prefix: str = "") -> Callable[[Received], bool]:
    def match(m: Received) -> bool:
        return m.topic == topic("workers", worker, "alert") and str(payload(m).get("kind", "")).startswith(kind_prefix)

    return match


def is_alarm_record(pred: Callable[[dict[str, object]], bool]) -> Callable[[Received], bool]:
    def match(m: Received) -> bool:
        parts = m.topic.split("/")
        return len(parts) == 4 and parts[2] == "alarms" and bool(m.payload) and pred(payload(m))

    return match


def siren(zone: str, state: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == topic("sirens", zone, "set") and payload(m).get("state") == state


class SimSite:
    """The simulator for one scenario plus the daemon config that reads its ports."""

    def __init__(self, tmp: Path, mqtt_port: int, scenario: str, speed: float = 1.0) -> None:
        self.tmp = tmp
        self.mqtt_port = mqtt_port
        base = demo_site_data()
        self.base = base
        scen = load_scenario(shipped_scenario(scenario))
        self.sim = SiteSimulator(parse_config(base), scen, pty_dir=tmp / "pty", mqtt_host="127.0.0.1",
                                 mqtt_port=mqtt_port, speed=speed)
        self.config: SiteConfig | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> SiteConfig:
        await self.sim.start()
        self.config = demo_config(self.base, self.sim, mqtt_port=self.mqtt_port, http_port=0, data_dir=self.tmp)
        return self.config

    def play(self, duration_s: float | None = None) -> None:
        self._task = asyncio.create_task(self.sim.run(duration_s))

    def write_config(self) -> Path:
        assert self.config is not None
        path = self.tmp / "site.yaml"
        path.write_text(yaml.safe_dump(self.config.model_dump(mode="json")))
        return path

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.sim.stop()


@asynccontextmanager
async def running(site: SimSite) -> AsyncIterator[EdgeDaemon]:
    """Start the simulator, then the real daemon on its ports; stop both."""
    config = await site.start()
    daemon = EdgeDaemon(config)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()
        await site.stop()


@asynccontextmanager
async def running_site(tmp: Path, mqtt_port: int, scenario: str) -> AsyncIterator[tuple[SimSite, EdgeDaemon]]:
    site = SimSite(tmp, mqtt_port, scenario)
    async with running(site) as daemon:
        yield site, daemon


class DaemonProcess:
    """The daemon as a child process (`siteguard run`), so a test can SIGKILL it."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_runtime", "run", "--config", str(self.config_path)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


async def eventually(check: Callable[[], Any], timeout: float, what: str, *, every: float = 0.05) -> Any:
    """The first truthy answer of ``check`` (a plain or an async check) within ``timeout``, asked every ``every`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

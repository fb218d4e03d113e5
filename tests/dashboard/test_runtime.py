"""The daemon is what the dashboard is typed against (dashboard/runtime.py)."""
from __future__ import annotations

from pathlib import Path

from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard import runtime
from edge_runtime.demo import demo_site_data
from edge_runtime.vision.supervisor import VisionSupervisor


def members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_daemon_and_its_parts_have_what_the_dashboard_runtime_names(tmp_path: Path) -> None:
    data = demo_site_data()
    data["storage"] = {"path": str(tmp_path / "siteguard.db")}
    daemon = EdgeDaemon(parse_config(data))
    assert isinstance(daemon, runtime.DashboardRuntime)
    parts = {
        runtime.EventBus: daemon.bus, runtime.FusionView: daemon.fusion, runtime.SensorHealth: daemon.sensors,
        runtime.StoreView: daemon.store, runtime.HttpView: daemon.http, runtime.VisionStatus: VisionSupervisor,
        runtime.TelemetryView: daemon.telemetry,
    }
    for protocol, part in parts.items():
        assert members(protocol) and all(hasattr(part if isinstance(part, type) else type(part), m) for m in members(protocol)), protocol.__name__
    assert members(runtime.DashboardRuntime) >= {"config", "clock", "alarms", "fusion", "vision", "queues", "readiness"}

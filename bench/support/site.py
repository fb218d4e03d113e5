"""A synthetic large site for the benchmarks: N workers, gateway ports, probe ports."""
from __future__ import annotations

from pathlib import Path
from typing import Any

ORIGIN = (51.9000, 4.4000)
YARD = [[-500.0, -500.0], [500.0, -500.0], [500.0, 500.0], [-500.0, 500.0]]
CONSOLE = "bench"  # the console account the probes acknowledge alarms as


def worker_ids(n: int) -> list[str]:
    return [f"w{i:03d}" for i in range(n)]


def bench_site(
    *,
    workers: int,
    gateway_ports: list[Path],
    probe_ports: list[Path],
    mqtt_port: int,
    db_path: Path,
) -> dict[str, Any]:
    """Background workers reach the edge through gateways (GPS + gas) and MQTT (HR);
    probe workers each have a directly wired Winsen detector, so a probe frame is
    one real 9-byte frame on its own pty."""
    ids = worker_ids(workers)
    per_port = -(-workers // len(gateway_ports)) if gateway_ports else 0  # none: telemetry-only sites
    site: dict[str, Any] = {
        "site": {"id": "bench", "name": "benchmark site", "origin_lat": ORIGIN[0], "origin_lon": ORIGIN[1]},
        "zones": [{"id": "yard", "hazard": "general", "polygon": YARD}],
        "workers": [],
        "detectors": [],
        "serial": [],
        # the probes acknowledge each alarm as this supervisor console (alarms/{id}/ack/bench)
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "accounts": [{"name": CONSOLE, "role": "supervisor"}]},
        "storage": {"path": str(db_path), "max_bytes": 8 * 1024**3},
        "http": {"host": "127.0.0.1", "port": 0},
        "battery": {"link_lost_s": 600},
    }
    for i, wid in enumerate(ids):
        site["workers"].append(
            {"id": wid, "name": f"Worker {i}", "age": 30 + i % 30, "wearable": f"wb{i:03d}",
             "detector": f"pd{i:03d}", "gps": f"gps{i:03d}"}
        )
        site["detectors"].append({"id": f"pd{i:03d}", "kind": "portable", "gases": ["H2S", "CO", "O2", "LEL"]})
    for p, path in enumerate(gateway_ports):
        mapping = {}
        for i in range(p * per_port, min(workers, (p + 1) * per_port)):
            mapping[gateway_address(i, "gps")] = f"gps{i:03d}"
            mapping[gateway_address(i, "gas")] = f"pd{i:03d}"
        site["serial"].append({"port": str(path), "protocol": "gateway", "baudrate": 921600, "gateway_devices": mapping})
    for k, path in enumerate(probe_ports):
        wid = f"probe{k:02d}"
        site["workers"].append({"id": wid, "name": f"Probe {k}", "age": 40, "detector": f"pp{k:02d}"})
        site["detectors"].append({"id": f"pp{k:02d}", "kind": "portable", "gases": ["H2S"], "period_s": 3600})
        site["serial"].append({"port": str(path), "protocol": "winsen", "baudrate": 9600, "device": f"pp{k:02d}"})
    site["gas"] = {"faults": {"stale_after_s": 3600}}
    return site


def gateway_address(worker_index: int, kind: str) -> int:
    return worker_index * 2 + (0 if kind == "gps" else 1)

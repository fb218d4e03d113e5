"""A real edge daemon for the rollout loop: registered with the bench's cloud, syncing to it, and running the
update agent against it, as a child process on the panic-probe site (bench/support/panic_site.py's 200 wearables,
the last 8 of them probes).

Its intervals are the fast ones of tests/e2e/test_training_loop.py (the desired state polled every
``poll_s``, reports every second) so the loop's figures measure the pipeline, the rollout and the device,
not how long a device idles between polls; its HTTP API listens on a port chosen here, so ``/readyz`` is
reachable.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.support.panic_site import SITE, WEARABLES
from bench.support.site import bench_site
from bench.support.training_cloud import call
from models.signing import key_id

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free now on 127.0.0.1 (the daemon binds it moments later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def register_device(http: aiohttp.ClientSession, token: str, device_id: str, device_type: str,
                          profile: dict[str, Any], credential_file: Path) -> None:
    """The device in the cloud's registry, on the daemon's site; its credential written for the site file."""
    status, body = await call(http, token, "POST", "/devices", {"id": device_id, "site": SITE, "name": device_id,
                                                                "device_type": device_type, "profile": profile})
    if status != 201:
        raise RuntimeError(f"registering {device_id}: {status} {body}")
    credential_file.write_text(body["credential"]["credential"] + "\n")
    credential_file.chmod(0o600)


def write_site(work: Path, *, device_id: str, broker_port: int, http_port: int, cloud_url: str,
               credential_file: Path, public_key: bytes, poll_s: float, bandwidth_bytes_per_s: int | None) -> Path:
    site = bench_site(workers=WEARABLES, gateway_ports=[], probe_ports=[], mqtt_port=broker_port,
                      db_path=work / "edge.db")
    site["device_id"] = device_id
    site["http"] = {"host": "127.0.0.1", "port": http_port}
    site["sync"] = {"enabled": True, "url": cloud_url, "credential_file": str(credential_file), "max_age_s": 0.2,
                    "poll_s": 0.05, "heartbeat_interval_s": 1.0, "retry_initial_s": 0.1, "retry_max_s": 1.0}
    site["updates"] = {"enabled": True, "poll_interval_s": poll_s, "report_interval_s": 1.0,
                       "retry_initial_s": 0.2, "retry_max_s": 1.0, "bandwidth_bytes_per_s": bandwidth_bytes_per_s}
    site["vision"] = {"trusted_keys": {key_id(public_key): public_key.hex()}}  # the bench's throw-away key only
    path = work / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def start_daemon(site_file: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "edge_runtime", "run", "--config", str(site_file)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

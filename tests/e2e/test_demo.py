"""`siteguard demo` as a user runs it: its own broker and cloud, every kind of alarm within 40 s, synced, clean exit."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from edge_runtime.alarms.model import NODE_KINDS, SUPERVISOR_KINDS, AlarmKind
from edge_runtime.local_broker import free_port
from tests.e2e.harness import REPO

DEADLINE_S = 40.0


def test_demo_raises_every_kind_of_alarm_within_40_s_and_exits_0(tmp_path) -> None:
    mqtt_port, http_port, cloud_port = free_port(), free_port(), free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "demo", "--duration", "45", "--mqtt-port", str(mqtt_port),
         "--http-port", str(http_port), "--cloud-port", str(cloud_port), "--data-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"mosquitto_sub -h 127.0.0.1 -p {mqtt_port}" in proc.stdout  # says where to look
    assert f"http://127.0.0.1:{http_port}/healthz" in proc.stdout
    assert f"http://127.0.0.1:{cloud_port}/console/   sign in as fleet-admin / " in proc.stdout
    summary = json.loads(proc.stdout.rsplit("demo finished: ", 1)[1])
    seen = summary["first_seen_s"]
    missing = {k.value for k in AlarmKind if k not in SUPERVISOR_KINDS | NODE_KINDS} - set(seen)  # people, the node
    assert not missing, f"never raised: {sorted(missing)}\n{proc.stdout[-3000:]}"
    late = {k: t for k, t in seen.items() if t > DEADLINE_S}
    assert not late, f"raised after {DEADLINE_S} s: {late}"

    # the demo's cloud received the device's alarms: every alarm the edge stored reached it
    with sqlite3.connect(tmp_path / "siteguard.db") as edge, sqlite3.connect(tmp_path / "cloud" / "cloud.db") as cloud:
        edge_alarms = {row[0] for row in edge.execute("SELECT alarm_id FROM alarms")}
        cloud_alarms = {row[0] for row in cloud.execute("SELECT alarm_id FROM alarms WHERE device_id = 'edge-1'")}
    assert edge_alarms and edge_alarms <= cloud_alarms | _raised_in_the_last_seconds(tmp_path)


def _raised_in_the_last_seconds(data_dir) -> set[str]:
    """Alarms the edge changed in the demo's last seconds: the agent may not have sent them before it stopped."""
    with sqlite3.connect(data_dir / "siteguard.db") as edge:
        newest = edge.execute("SELECT max(updated_ts) FROM alarms").fetchone()[0]
        return {row[0] for row in edge.execute("SELECT alarm_id FROM alarms WHERE updated_ts > ?", (newest - 3,))}


def test_demo_loop_retrains_the_risk_model_and_its_alarm_lines_carry_the_new_version(tmp_path) -> None:
    """`siteguard demo --loop`: the simulated supervisor's verdicts retrain the risk model in the demo's cloud, the
    candidate is rolled out to the demo device, which switches to it; the next alarm lines show its score."""
    mqtt_port, http_port, cloud_port = free_port(), free_port(), free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "demo", "--loop", "--duration", "75", "--mqtt-port", str(mqtt_port),
         "--http-port", str(http_port), "--cloud-port", str(cloud_port), "--data-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "loop: training job 1 done" in out, out[-3000:]
    rollout = next(line for line in out.splitlines() if line.startswith("loop: rollout ") and " is canary" in line)
    version = rollout.split(" of risk ", 1)[1].split()[0]
    assert f"running risk {version}" in out  # the device switched by itself
    assert f"% by risk {version}]" in out, out[-3000:]  # and its alarms carry the new model

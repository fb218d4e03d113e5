"""Node-RED 4, the tool integrators would otherwise use, as the alarm-path peer.

Installed with npm into a scratch folder (``.bench-cache/node-red``, reused
when present; nothing is downloaded at run time beyond that npm install), run
headless (no editor, no admin API) with one flow written here: MQTT in on the
wearables' telemetry topic -> switch nodes that threshold panic and heart rate
(``hr``, bpm) -> a function that builds the alert -> MQTT out on ``siteguard/{site}/workers/{worker}/alert`` with the alert
payload of the site contract, QoS 1. The flow is stateless, as such flows are
written: every panic press alerts, nothing latches or deduplicates.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".bench-cache" / "node-red"
RED = CACHE / "node_modules" / "node-red" / "red.js"

# Switch nodes filter every message (cheap, no sandbox); a function node builds an alert only
# for the few messages that raise one: the lean way to write such a flow in Node-RED.
_ALERT = r"""
const parts = msg.topic.split("/");
const worker = env.get("WORKERS")[parts[3]];
if (!worker) return null;
const now = Date.now() / 1000;
const kind = msg.payload.panic === true ? "panic" : "hr_high";
if (kind === "hr_high" && !(msg.payload.hr > worker.hr_limit)) return null;
msg.topic = `siteguard/${parts[1]}/workers/${worker.id}/alert`;
msg.payload = {alarm_id: `${kind}-${worker.id}-${Math.round(now * 1000)}`, kind: kind,
               priority: kind === "panic" ? "critical" : "high", state: "unack",
               message: `${worker.id}: ${kind}`, ts: now};
return msg;
"""


class NodeRedUnavailable(RuntimeError):
    """npm or node is missing, or the install failed: the peer cannot run here."""


def install() -> Path:
    """``npm install node-red@4`` into the scratch folder once; returns red.js."""
    if RED.exists():
        return RED
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise NodeRedUnavailable("npm/node not installed (apt-get install npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "node-red@4"],
                          cwd=CACHE, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not RED.exists():
        raise NodeRedUnavailable(f"npm install node-red@4 failed: {done.stderr[-500:]}")
    return RED


def write_flow(workdir: Path, *, site: str, mqtt_port: int, workers: dict[str, dict[str, object]]) -> Path:
    """settings.js and flows.json for one run; ``workers`` maps wearable -> {"id", "hr_limit"}."""
    workdir.mkdir(parents=True, exist_ok=True)
    min_limit = min(int(w["hr_limit"]) for w in workers.values())  # type: ignore[call-overload]
    broker = {"id": "broker", "type": "mqtt-broker", "name": "site", "broker": "127.0.0.1", "port": str(mqtt_port),
              "clientid": "nodered-peer", "usetls": False, "protocolVersion": "4", "keepalive": "15",
              "cleansession": True, "autoConnect": True}
    flow = [
        {"id": "tab", "type": "tab", "label": "siteguard peer", "env": [
            {"name": "WORKERS", "value": json.dumps(workers), "type": "json"}]},
        broker,
        {"id": "in", "type": "mqtt in", "z": "tab", "name": "telemetry", "topic": f"siteguard/{site}/wearables/+/telemetry",
         "qos": "0", "datatype": "json", "broker": "broker", "nl": False, "rap": False, "inputs": 0,
         "wires": [["panic", "hr"]]},
        {"id": "panic", "type": "switch", "z": "tab", "name": "panic?", "property": "payload.panic",
         "propertyType": "msg", "rules": [{"t": "true"}], "checkall": "true", "outputs": 1, "wires": [["fn"]]},
        {"id": "hr", "type": "switch", "z": "tab", "name": "hr over the lowest limit?", "property": "payload.hr",
         "propertyType": "msg", "rules": [{"t": "gt", "v": str(min_limit), "vt": "num"}], "checkall": "true",
         "outputs": 1, "wires": [["fn"]]},
        {"id": "fn", "type": "function", "z": "tab", "name": "alert", "func": _ALERT, "outputs": 1,
         "wires": [["out"]]},
        {"id": "out", "type": "mqtt out", "z": "tab", "name": "alert", "topic": "", "qos": "1", "retain": "false",
         "broker": "broker", "wires": []},
    ]
    (workdir / "flows.json").write_text(json.dumps(flow))
    (workdir / "settings.js").write_text(
        "module.exports = {\n"
        "  uiHost: '127.0.0.1', uiPort: 0, httpAdminRoot: false, httpNodeRoot: false,\n"
        "  flowFile: 'flows.json', credentialSecret: false, flowFilePretty: false,\n"
        "  logging: { console: { level: 'warn', metrics: false, audit: false } },\n"
        "  functionGlobalContext: {}, externalModules: { autoInstall: false },\n"
        "};\n"
    )
    return workdir


def start(workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    """Node-RED on the flow in ``workdir`` (the caller waits for its first answered probe)."""
    node = shutil.which("node")
    if node is None:
        raise NodeRedUnavailable("node not installed")
    with log.open("ab") as out:
        return subprocess.Popen([node, str(RED), "--settings", str(workdir / "settings.js"), "--userDir", str(workdir)],
                                cwd=workdir, stdout=out, stderr=subprocess.STDOUT)

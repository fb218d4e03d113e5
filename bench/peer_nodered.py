"""Panic press -> worker alert over MQTT: SiteGuard's daemon against Node-RED 4, same load, same run.

Each system gets its own Mosquitto with the same settings (edge_runtime.local_broker),
the same 200 wearables publishing telemetry in the background at each rate
(1,800 and 9,000 messages/s by default), and the same panic probes from an
independent client (bench/support/panic_probe.py). Node-RED runs a stateless
flow (bench/support/nodered.py); the daemon keeps its full fusion state, stores
every reading and latches the panic alarm, which the prober acknowledges and
cancels after each probe. A probe not answered within 2 s is missed.
Node-RED is installed with npm into .bench-cache/ on first use; without npm
the benchmark prints {"skipped": ...}. Prints one JSON object on its last line.

    python bench/peer_nodered.py [--rates 1800,9000] [--probes 200] [--warmup-s 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support import nodered  # noqa: E402
from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.panic_site import ProbeRun, measure  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[1800.0, 9000.0])
    p.add_argument("--probes", type=int, default=int(os.environ.get("SITEGUARD_BENCH_PROBES", 200)))
    p.add_argument("--probe-gap-s", type=float, default=0.03)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--max-missed", type=int, default=20, help="a system's level ends after this many missed probes")
    args = p.parse_args()
    run = ProbeRun(args.probes, args.probe_gap_s, args.warmup_s, args.max_missed)
    try:
        nodered.install()
    except (nodered.NodeRedUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        print(json.dumps({"skipped": f"Node-RED peer not available: {exc}"}))
        return
    results: dict[str, Any] = {"rates": {}}
    with bench_session():
        root = Path(tempfile.mkdtemp(prefix="siteguard-peer-"))
        for rate in args.rates:
            level: dict[str, Any] = {}
            for system in ("nodered", "daemon"):
                level[system] = measure(system, rate, run, root / f"{system}-{rate:g}")
            ours, theirs = level["daemon"].get("p99_ms"), level["nodered"].get("p99_ms")
            level["p99_ratio_daemon_vs_nodered"] = round(ours / theirs, 2) if ours and theirs else None
            results["rates"][f"{rate:g}"] = level
    results["targets"] = _targets(results["rates"])
    print(json.dumps(results))


def _targets(rates: dict[str, Any]) -> dict[str, bool]:
    out = {}
    for key, want in (("1800", 1.0), ("9000", 0.5)):
        level = rates.get(key)
        if level is None:
            continue
        ratio = level.get("p99_ratio_daemon_vs_nodered")
        out[f"p99_at_{key}<={want}x_nodered"] = ratio is not None and ratio <= want
        out[f"no_panic_missed_at_{key}"] = level["daemon"].get("missed", 1) == 0
    return out


if __name__ == "__main__":
    main()

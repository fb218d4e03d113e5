"""Panic press -> worker alert while ids no worker carries flood the telemetry topics, against the same rate
from the site's own wearables, same run.

The attack-and-fault review of issue 9 saw 2,000 messages/s to 5,000
unconfigured wearable ids delay a real panic alert by 0.6-1.2 s and store
321,054 rows for nobody. The ingest now drops them at one dict lookup of the
topic: this prints the daemon's panic p50/p99 and CPU with the site's 200
wearables publishing ``--rate`` messages/s, then with ``--ids`` unknown ids
publishing the same rate, and the stored readings of unknown ids (must be 0).
Prints one JSON object on its last line.

    python bench/unknown_wearables.py [--rate 2000] [--ids 5000] [--probes 150]
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.panic_site import ProbeRun, measure  # noqa: E402


def _stored_for_unknown(work: Path) -> int:
    db = work / "bench.db"
    if not db.exists():
        return -1
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM readings WHERE device LIKE 'ghost-%'").fetchone()[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=2000.0)
    p.add_argument("--ids", type=int, default=5000)
    p.add_argument("--probes", type=int, default=int(os.environ.get("SITEGUARD_BENCH_PROBES", 150)))
    args = p.parse_args()
    run = ProbeRun(args.probes, probe_gap_s=0.03, warmup_s=3.0, max_missed=20)
    with bench_session():
        root = Path(tempfile.mkdtemp(prefix="siteguard-unknown-"))
        known = measure("daemon", args.rate, run, root / "known")
        flood = measure("daemon", args.rate, run, root / "unknown", [f"ghost-{i}" for i in range(args.ids)])
        flood["readings_stored_for_unknown_ids"] = _stored_for_unknown(root / "unknown")
    ratio = (flood.get("p99_ms") or 0) / known["p99_ms"] if known.get("p99_ms") else None
    print(json.dumps({"known_wearables": known, "unknown_ids": flood,
                      "p99_ratio_unknown_vs_known": None if ratio is None else round(ratio, 2)}))


if __name__ == "__main__":
    main()

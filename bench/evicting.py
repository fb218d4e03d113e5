"""Panic press -> worker alert while the disk budget evicts, against the same load with room to spare.

The attack-and-fault review of issue 9 saw panic alerts take 41-45 ms while the
store evicted under its disk budget at 1,000 telemetry messages/s, against
2-7 ms without. Here the daemon runs twice on the same load, probes and
warm-up: once with the benchmark site's 8 GB budget, once with
``--budget-mb`` (default 6 MB, and ``min_free_bytes: 0``), which the stored
readings exceed within seconds, so eviction runs for the whole measurement.
Prints one JSON object on its last line.

    python bench/evicting.py [--rate 1000] [--budget-mb 6] [--probes 250]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.panic_site import ProbeRun, measure  # noqa: E402


def _evictions(work: Path) -> int:
    """Log lines of the budget at work (warnings: deleting unsynced readings)."""
    log = work / "daemon.log"
    return sum("disk budget" in line for line in log.read_text(errors="replace").splitlines()) if log.exists() else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--budget-mb", type=float, default=6.0)
    p.add_argument("--probes", type=int, default=int(os.environ.get("SITEGUARD_BENCH_PROBES", 250)))
    args = p.parse_args()
    # the warm-up lets the database reach the small budget before the first probe
    run = ProbeRun(args.probes, probe_gap_s=0.03, warmup_s=20.0, max_missed=20)
    with bench_session():
        root = Path(tempfile.mkdtemp(prefix="siteguard-evicting-"))
        roomy = measure("daemon", args.rate, run, root / "roomy")
        budget = {"max_bytes": int(args.budget_mb * 1024 * 1024), "min_free_bytes": 0}
        evicting = measure("daemon", args.rate, run, root / "evicting", storage=budget)
        db = root / "evicting" / "bench.db"
        evicting["database_bytes"] = db.stat().st_size if db.exists() else None
        evicting["budget_log_lines"] = _evictions(root / "evicting")
    ratio = evicting["p99_ms"] / roomy["p99_ms"] if roomy.get("p99_ms") and evicting.get("p99_ms") else None
    print(json.dumps({"roomy": roomy, "evicting": evicting,
                      "p99_ratio_evicting_vs_roomy": None if ratio is None else round(ratio, 2)}))


if __name__ == "__main__":
    main()

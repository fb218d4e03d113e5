"""What a risk artifact costs to run: single-row latency, throughput, resident memory, size.

    python -m models.risk.cost ARTIFACT FORMAT N_FEATURES [--rows R] [--seconds S]

:func:`measure` times a single-row invoke loop (one row per call, as the
edge scores an alarm) with ``perf_counter`` after a warm-up, bounded by a
count and a time budget. It runs in a fresh child Python process, so that
one artifact's load does not pollute another's memory figure: memory is the
growth of the child's resident set (psutil RSS) from just after the runtime
library is imported to the highest point while loading and running — the
model's own cost, not the library's, which a device pays once. Latency is
this machine's; :func:`for_profile` scales it to a target profile.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .targets import TargetProfile

WARMUP_CALLS = 20
RSS_EVERY = 64
"""Sample the resident set every this many calls (and after load and warm-up)."""
LOAD_ALLOWANCE_S = 60.0
"""Time the child may take beyond the loop budget to start, import its runtime and load the artifact."""
MIB = 1024 * 1024
REPOSITORY = Path(__file__).resolve().parents[2]


class CostError(RuntimeError):
    """The measurement child failed or ran past its time limit; the message carries its last words."""


@dataclass(frozen=True, slots=True)
class Cost:
    latency_p50_ms: float
    latency_p99_ms: float
    qps: float
    peak_memory_mb: float
    size_bytes: int


def for_profile(cost: Cost, profile: TargetProfile) -> Cost:
    """``cost`` as expected on ``profile``: latency times its ``cost_scale``, throughput divided by it.

    Memory and size do not scale: the same tensors are allocated everywhere.
    """
    s = profile.cost_scale
    return replace(cost, latency_p50_ms=cost.latency_p50_ms * s, latency_p99_ms=cost.latency_p99_ms * s,
                   qps=cost.qps / s)


def measure(artifact: Path, fmt: str, n_features: int, rows: int = 2000, seconds_budget: float = 2.0) -> Cost:
    """Time ``artifact`` in a fresh child process: at most ``rows`` single-row calls and ``seconds_budget`` seconds."""
    artifact = Path(artifact)
    if not artifact.is_file():
        raise CostError(f"{artifact}: no such artifact")
    if rows < 1 or seconds_budget <= 0 or n_features < 1:
        raise ValueError("rows, seconds_budget and n_features must be positive")
    cmd = [sys.executable, "-m", "models.risk.cost", str(artifact), fmt, str(n_features),
           "--rows", str(rows), "--seconds", str(seconds_budget)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds_budget + LOAD_ALLOWANCE_S)
    except subprocess.TimeoutExpired:  # subprocess.run has killed and reaped the child
        limit = seconds_budget + LOAD_ALLOWANCE_S
        raise CostError(f"{artifact.name}: measurement did not finish in {limit:.0f} s") from None
    if done.returncode != 0:
        raise CostError(f"{artifact.name}: measurement failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return Cost(**json.loads(done.stdout.strip().splitlines()[-1]))


def run_loop(artifact: Path, fmt: str, n_features: int, rows: int, seconds_budget: float) -> Cost:
    """The child's side of :func:`measure` (call it in a process of its own)."""
    import psutil

    from .artifact_runtime import interpreter_class, open_artifact

    if fmt == "onnx":
        import onnxruntime  # noqa: F401  (the library's own memory is the baseline, not the model's)
    else:
        interpreter_class()
    proc = psutil.Process()
    baseline = peak = proc.memory_info().rss
    scorer = open_artifact(artifact, fmt, threads=1)  # type: ignore[arg-type]
    pool = np.random.default_rng(0).normal(size=(64, 1, n_features)).astype(np.float32)
    for i in range(min(WARMUP_CALLS, rows)):
        scorer(pool[i % len(pool)])
    peak = max(peak, proc.memory_info().rss)
    times = []
    start = time.perf_counter()
    deadline = start + seconds_budget
    for i in range(rows):
        t0 = time.perf_counter()
        scorer(pool[i % len(pool)])
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if i % RSS_EVERY == 0:
            peak = max(peak, proc.memory_info().rss)
        if t1 >= deadline:
            break
    elapsed = time.perf_counter() - start
    peak = max(peak, proc.memory_info().rss)
    ms = np.asarray(times) * 1000.0
    return Cost(latency_p50_ms=float(np.percentile(ms, 50)), latency_p99_ms=float(np.percentile(ms, 99)),
                qps=len(times) / elapsed, peak_memory_mb=max(peak - baseline, 0) / MIB,
                size_bytes=artifact.stat().st_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.risk.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("format", choices=("onnx", "tflite"))
    parser.add_argument("n_features", type=int)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    cost = run_loop(args.artifact, args.format, args.n_features, args.rows, args.seconds)
    print(json.dumps(asdict(cost)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

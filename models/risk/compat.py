"""Does this artifact work on that target? Load, shapes, memory, agreement and a service-style load test.

What a device would check before switching to a new risk model, done in the
cloud first for each target profile, so a package that cannot work is never
offered: the artifact loads in its runtime, its tensors are the manifest's,
its memory fits the profile's budget, its scores agree with the float model
it was exported from, and several clients calling it at once get answers.
Every failed check adds a reason; ``passed`` needs them all.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.package import Manifest, TensorSpec

from .agreement import disagreement
from .artifact_runtime import ArtifactLoadError, Format, Scorer, ScoringError, open_artifact
from .cost import CostError, measure
from .targets import TargetProfile

ManifestIO = Manifest | tuple[Sequence[TensorSpec], Sequence[TensorSpec]]
"""The manifest, or its ``(inputs, outputs)`` tensor specs."""
MEMORY_ROWS, MEMORY_SECONDS = 200, 0.5
"""A short cost run is enough for the memory figure (it is reached at load and first calls)."""
MAX_CALLS_PER_CLIENT = 1_000_000
JOIN_GRACE_S = 10.0
"""How long past ``seconds`` a client thread may take to finish its last call."""


@dataclass(frozen=True, slots=True)
class CompatReport:
    """The checks' outcomes; ``qps`` and ``p99_ms`` are this machine's load test scaled to the profile."""

    loads: bool
    shapes_match: bool
    memory_fits: bool
    max_abs_diff: float
    outputs_agree: bool
    qps: float
    p99_ms: float
    passed: bool
    reasons: tuple[str, ...]


def check_artifact(
    artifact: Path, fmt: Format, manifest_io: ManifestIO, profile: TargetProfile,
    reference: Callable[[np.ndarray], np.ndarray], sample: np.ndarray, tolerance: float = 1e-4,
    clients: int = 4, seconds: float = 2.0,
) -> CompatReport:
    """Check ``artifact`` (format ``fmt``) for ``profile`` against the manifest and the reference model."""
    if clients < 1 or seconds <= 0 or len(sample) == 0:
        raise ValueError("clients and seconds must be positive and the sample must have rows")
    sample = np.ascontiguousarray(sample, np.float32)
    inputs, outputs = (manifest_io.inputs, manifest_io.outputs) if isinstance(manifest_io, Manifest) else manifest_io
    reasons: list[str] = []
    if profile.runtime != fmt:
        reasons.append(f"profile {profile.name} runs {profile.runtime}, the artifact is {fmt}")
    try:
        scorer = open_artifact(Path(artifact), fmt)
    except ArtifactLoadError as exc:
        return CompatReport(False, False, False, float("nan"), False, 0.0, float("nan"), False,
                            (*reasons, f"does not load: {exc}"))
    shapes_match = _match_specs(scorer, inputs, outputs, reasons)
    memory_fits = _memory_fits(Path(artifact), fmt, sample.shape[1], profile, reasons)
    diff, problem = _agreement(scorer, reference, sample, tolerance, reasons)
    agree = problem is None and np.isfinite(diff)
    if problem is not None:
        reasons.append(f"against the reference: {problem}")
    qps, p99 = _load_test(scorer, Path(artifact), fmt, sample, clients, seconds, reasons)
    passed = not reasons
    return CompatReport(True, shapes_match, memory_fits, diff, agree, qps / profile.cost_scale,
                        p99 * profile.cost_scale, passed, tuple(reasons))


def _match_specs(scorer: Scorer, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], reasons: list[str]) -> bool:
    before = len(reasons)
    for kind, listed, actual in (("input", inputs, scorer.signature.input), ("output", outputs, scorer.signature.output)):
        if len(listed) != 1:
            reasons.append(f"the manifest lists {len(listed)} {kind}s; a risk model has one")
            continue
        want = listed[0]
        if (want.name, tuple(want.shape), want.dtype) != (actual.name, tuple(actual.shape), actual.dtype):
            reasons.append(f"{kind} is {actual.name} {list(actual.shape)} {actual.dtype}, "
                           f"the manifest says {want.name} {list(want.shape)} {want.dtype}")
    return len(reasons) == before


def _memory_fits(artifact: Path, fmt: Format, n_features: int, profile: TargetProfile, reasons: list[str]) -> bool:
    try:
        cost = measure(artifact, fmt, n_features, rows=MEMORY_ROWS, seconds_budget=MEMORY_SECONDS)
    except CostError as exc:
        reasons.append(f"memory not measured: {exc}")
        return False
    if cost.peak_memory_mb > profile.memory_budget_mb:
        reasons.append(f"needs {cost.peak_memory_mb:.1f} MB, "
                       f"profile {profile.name} allows {profile.memory_budget_mb:.1f} MB")
        return False
    return True


def _agreement(scorer: Scorer, reference: Callable[[np.ndarray], np.ndarray], sample: np.ndarray, tolerance: float,
               reasons: list[str]) -> tuple[float, str | None]:
    """(largest difference, why the scores disagree or None) on ``sample``."""
    try:
        got = np.asarray(scorer(sample), np.float64)
    except ScoringError as exc:
        reasons.append(f"scoring the sample failed: {exc}")
        return float("nan"), None
    want = np.asarray(reference(sample), np.float64)
    if got.shape != want.shape:
        reasons.append(f"scores have shape {list(got.shape)}, the reference {list(want.shape)}")
        return float("nan"), None
    return float(np.max(np.abs(got - want))), disagreement(got, want, tolerance)


def _load_test(scorer: Scorer, artifact: Path, fmt: Format, sample: np.ndarray, clients: int, seconds: float,
               reasons: list[str]) -> tuple[float, float]:
    """``clients`` threads scoring single rows for ``seconds``: (calls per second, p99 ms) on this machine.

    An ONNX Runtime session is shared (its ``run`` is thread-safe); a LiteRT
    interpreter is not, so each TFLite client opens its own, as a service
    with one interpreter per worker would.
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    scorers = [scorer] + [scorer if fmt == "onnx" else open_artifact(artifact, fmt) for _ in range(clients - 1)]
    start = threading.Barrier(clients, timeout=JOIN_GRACE_S)

    def client(k: int) -> None:
        try:
            start.wait()
            deadline = time.perf_counter() + seconds
            for i in range(MAX_CALLS_PER_CLIENT):
                t0 = time.perf_counter()
                scorers[k](sample[(k + i * clients) % len(sample)][None])
                t1 = time.perf_counter()
                latencies[k].append(t1 - t0)
                if t1 >= deadline:
                    break
        except (ScoringError, threading.BrokenBarrierError) as exc:
            errors.append(f"client {k}: {exc or type(exc).__name__}")

    threads = [threading.Thread(target=client, args=(k,), name=f"risk-compat-{k}", daemon=True) for k in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + JOIN_GRACE_S)
    elapsed = time.perf_counter() - began
    if any(t.is_alive() for t in threads):
        errors.append(f"a client was still calling {JOIN_GRACE_S:.0f} s after the test's end")
    reasons.extend(f"load test: {e}" for e in errors[:3])
    calls = [x for per_client in latencies for x in per_client]
    if not calls:
        return 0.0, float("nan")
    return len(calls) / elapsed, float(np.percentile(np.asarray(calls) * 1000.0, 99))

"""Percentiles of probe latencies, the same way in every benchmark."""
from __future__ import annotations

import statistics


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile in milliseconds (nearest rank), None without values."""
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))] * 1000, 3)


def summary(values: list[float], attempts: int) -> dict[str, object]:
    return {"n": len(values), "lost": attempts - len(values), "p50_ms": pct(values, 0.5),
            "p99_ms": pct(values, 0.99), "max_ms": pct(values, 1.0),
            "mean_ms": round(statistics.fmean(values) * 1000, 3) if values else None}

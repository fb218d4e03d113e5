"""Alarm engine cost per operation (µs) with thousands of alarms open.

Run: python -m bench.alarm_engine [--alarms N] [--repeat R]. Each figure is
the best of R rounds (the least disturbed by other processes). The last line
is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import (
    Actor,
    AlarmKind,
    Channel,
    ConditionUpdate,
    Priority,
    Subject,
    SubjectKind,
)
from edge_runtime.config.alarms import AlarmSettings

T = TypeVar("T")
K = AlarmKind


class _Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def _reports(n: int, kind: AlarmKind, *, active: bool = True, condition: str = "gas:H2S") -> list[ConditionUpdate]:
    value = 25.0 if active else 19.0  # a clear well past the deadband
    return [
        ConditionUpdate(
            subject=Subject(SubjectKind.WORKER, f"w{i}"), condition=condition, kind=kind, active=active,
            priority=Priority.LOW, message=kind.value, ts=0.0, value=value, threshold=20.0, direction="high",
        )
        for i in range(n)
    ]


def _us_each(fn: Callable[[T], object], items: Iterable[T]) -> float:
    items = list(items)
    start = time.perf_counter_ns()
    for item in items:
        fn(item)
    return (time.perf_counter_ns() - start) / len(items) / 1000


def _round(n: int) -> dict[str, float]:
    clock = _Clock()
    engine = AlarmEngine(AlarmSettings(), lambda t: None, clock=clock)
    low, high = _reports(n, K.GAS_LOW), _reports(n, K.GAS_HIGH)
    gone, normal = _reports(n, K.GAS_LOW, active=False), _reports(n, K.GAS_LOW, active=False, condition="gas:CO")
    out = {"raise": _us_each(engine.update, low)}
    out["unchanged_active"] = _us_each(engine.update, low * 10)
    out["inactive_without_alarm"] = _us_each(engine.update, normal)
    out["escalate"] = _us_each(engine.update, high)
    ids = [a.alarm_id for a in engine.active()]
    out["tick_idle"] = _us_each(engine.tick, [clock.t] * 1000)
    clock.t += 120.0  # every GAS_HIGH alarm is due for its re-alarm now
    out["tick_re_alarm_per_alarm"] = _us_each(engine.tick, [clock.t]) / n
    console = Actor(Channel.MQTT, "bench")
    out["acknowledge"] = _us_each(lambda i: engine.acknowledge(i, console), ids)
    out["clear_and_close"] = _us_each(engine.update, gone)
    fresh = AlarmEngine(AlarmSettings(), lambda t: None, clock=clock)
    for report in low:
        fresh.update(report)
    out["clear_to_rtn_unack"] = _us_each(fresh.update, gone)
    out["active_query_total"] = _us_each(lambda _: fresh.active(), [None])
    return out


def run(n: int, repeat: int) -> dict[str, float | int | str]:
    rounds = [_round(n) for _ in range(repeat)]
    best = {name: round(min(r[name] for r in rounds), 3) for name in rounds[0]}
    return {"open_alarms": n, "unit": "us", **best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.alarms, args.repeat)))


if __name__ == "__main__":
    main()

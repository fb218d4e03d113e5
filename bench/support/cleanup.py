"""Every process a benchmark starts is stopped by it: on return, on an exception, on Ctrl-C or SIGTERM.

``with bench_session() as stack:`` turns SIGTERM (and SIGHUP) into SystemExit so
``finally`` blocks and the ``ExitStack`` run, and ``stack.callback(...)``
registers each stop in reverse order of start.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def bench_session() -> Iterator[ExitStack]:
    previous = {s: signal.signal(s, _exit) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with ExitStack() as stack:
            yield stack
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

"""What every child process of the daemon does first: die with it, say what it is, and take its place in the CPU queue.

The daemon's children (the store process, the telemetry ingest process, the
camera workers) must never outlive it, and bulk work must yield the CPU to
the alarm path: on a 2-core Pi, the kernel's scheduler is the first queue a
panic press waits in.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
from contextlib import suppress

log = logging.getLogger(__name__)

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1
COMM_LEN = 15  # Linux keeps this many bytes of a process's name


def _prctl(option: int, arg: object) -> None:
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, arg)


def die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent dies, however it dies (SIGKILL too)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def name_process(name: str) -> None:
    """Linux: the name ``ps``, ``top`` and psutil show for this process (e.g. ``sg-store``), so an
    operator (and the benchmarks) can tell the daemon's processes apart; cut to 15 bytes."""
    _prctl(_PR_SET_NAME, name.encode()[:COMM_LEN])


def lower_priority(niceness: int) -> None:
    """Run this process at ``niceness`` (0 keeps it): under contention it gets a smaller share of
    the CPU than the alarm path, and it never delays the alarm path's wake-ups."""
    if niceness <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except (OSError, AttributeError) as exc:
        log.warning("could not lower this process's priority: %s", exc)

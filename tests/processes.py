"""Stopping a child process a test started: SIGTERM, then SIGKILL if it lingers, bounded either way."""
from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:  # type: ignore[type-arg]
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)

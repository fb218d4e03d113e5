"""Child processes of the benchmarks."""
from __future__ import annotations

import signal
import subprocess

import psutil


def terminate(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 20.0) -> None:
    """SIGTERM (the daemon stops cleanly, flushes and stops its own children), SIGKILL if it does not in
    time; then SIGKILL whatever is left of its process tree, so nothing outlives the benchmark."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def tree(pid: int) -> list[psutil.Process]:
    """The process and its descendants (the daemon's store, ingest and camera workers)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []

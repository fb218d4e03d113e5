"""Crash and disk-full behaviour, in child processes (each with its store process): SIGKILL, a file-size limit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from .conftest import probe

REPO = Path(__file__).resolve().parents[2]
# How long after record_transition() returns a transition is promised to be on disk.
# Measured (bench/store_write.py): p50 ~2.5 ms, p99 ~20 ms with the fsync on a
# busy 2-core box; the margin covers a CI machine that is even busier.
DURABLE_WITHIN_S = 0.25

CHILD_PRELUDE = """
import sys, threading, time
from edge_runtime.config.devices import StorageSettings
from edge_runtime.store import Store
from tests.store.conftest import gas, make_alarm, transition
{before_open}
store = Store(StorageSettings(path=sys.argv[1], batch_size=500, flush_interval_s=0.05))
store.open()
print(store.process_pid, flush=True)

def stream():  # readings keep the writer busy the whole time
    while True:
        for _ in range(100):
            store.record_observation(gas())
        time.sleep(0.002)

threading.Thread(target=stream, daemon=True).start()
"""


def run_child(body: str, db: Path, before_open: str = "") -> subprocess.Popen[str]:
    """The child prints its store process's pid first."""
    code = CHILD_PRELUDE.format(before_open=textwrap.dedent(before_open)) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(db)], cwd=REPO, stdout=subprocess.PIPE, text=True, bufsize=1
    )


def wait_gone(pid: int, deadline: float) -> bool:
    """Polls until ``pid`` is gone or the monotonic ``deadline`` passes; whether it is gone."""
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return gone(pid)


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def stop_all(child: subprocess.Popen[str], store_pid: int | None) -> None:
    """Kill what is left of a test's processes, also when it failed half-way."""
    if child.poll() is None:
        child.kill()
    child.wait(10)
    if store_pid is not None and not gone(store_pid):
        os.kill(store_pid, signal.SIGKILL)


def test_transitions_survive_sigkill(db_path: Path) -> None:
    child = run_child(
        """
        i = 0
        while True:
            store.record_transition(transition(make_alarm(f"a{i}")))
            print(i, flush=True)  # the alarm is 'announced' once record_transition returned
            i += 1
            time.sleep(0.003)
        """,
        db_path,
    )
    assert child.stdout is not None
    store_pid = None
    try:
        store_pid = int(child.stdout.readline())
        reported = [(int(child.stdout.readline()), time.monotonic())]  # the child has started
        while time.monotonic() - reported[0][1] < 1.0:
            reported.append((int(child.stdout.readline()), time.monotonic()))
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait(10)
        reported.extend((int(line), killed_at) for line in child.stdout.read().split())
        # Orphaned, the store process commits what it had received and exits by itself.
        assert wait_gone(store_pid, time.monotonic() + 10)
    finally:
        stop_all(child, store_pid)

    with probe(db_path) as conn:
        stored = {row[0] for row in conn.execute("SELECT alarm_id FROM transitions")}
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    must_be_stored = {f"a{i}" for i, seen in reported if killed_at - seen >= DURABLE_WITHIN_S}
    assert len(must_be_stored) > 50 and readings > 0
    assert must_be_stored <= stored, sorted(must_be_stored - stored)


def test_every_transition_sent_before_sigkill_is_committed(db_path: Path) -> None:
    child = run_child(
        """
        i = 0
        while True:
            store.record_transition(transition(make_alarm(f"a{i}")))
            deadline = time.monotonic() + 2
            # The sender took it: a{i-1}, taken before it, has been written to the socket whole.
            while store.queues()[1].depth and time.monotonic() < deadline:
                time.sleep(0.0002)
            print(i, flush=True)
            i += 1
        """,
        db_path,
    )
    assert child.stdout is not None
    store_pid = None
    try:
        store_pid = int(child.stdout.readline())
        started = time.monotonic()
        taken = [int(child.stdout.readline())]
        while time.monotonic() - started < 1.0:
            taken.append(int(child.stdout.readline()))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        taken.extend(int(line) for line in child.stdout.read().split())
        assert wait_gone(store_pid, started + 15)
    finally:
        stop_all(child, store_pid)

    with probe(db_path) as conn:
        stored = {row[0] for row in conn.execute("SELECT alarm_id FROM transitions")}
    sent = {f"a{i}" for i in taken[:-1]}
    assert len(sent) > 50
    assert sent <= stored, sorted(sent - stored, key=lambda a: int(a[1:]))


def test_a_full_disk_is_counted_never_raised(db_path: Path) -> None:
    child = run_child(
        """
        import json
        for i in range(200):
            store.record_transition(transition(make_alarm(f"a{i}")))
            store.record_exposure_minute("w7", "H2S", 60.0 * i, 1.5)
            store.save_fusion_state({"i": i})
            time.sleep(0.002)
        flushed = store.flush(2.0)
        stats = store.stats
        store.close(2.0)
        print(json.dumps({"flushed": flushed, "write_errors": stats.write_errors,
                          "dropped": stats.dropped_on_error, "held": stats.priority_pending_retry}))
        """,
        db_path,
        before_open="""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))  # the store process inherits it
        """,
    )
    try:
        out, _ = child.communicate(timeout=60)
    finally:
        stop_all(child, None)
    assert child.returncode == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["flushed"] is False
    assert result["write_errors"] > 0 and result["dropped"] > 0
    assert os.path.getsize(db_path) <= 256 * 1024

"""Start a private Mosquitto for the demo and the tests, unless one already listens.

A site normally runs Mosquitto as a service (k3s/ or the Debian package); the
demo must work on a bare laptop, so it brings its own on loopback.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edge_runtime.broker_acl import BrokerFiles


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not come up."""


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if not found:
        raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
    return found


class LocalBroker:
    """A Mosquitto child process bound to ``host:port`` that can be stopped and
    restarted on the same port (broker-outage tests need exactly that)."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        workdir: Path | None = None,
        allow_anonymous: bool = True,
        auth: BrokerFiles | None = None,
    ) -> None:
        """``auth``: the site's accounts and ACL (``broker_acl.write_broker_files``); anonymous is then off."""
        self.host = host
        self.port = port or free_port(host)
        self.allow_anonymous = allow_anonymous and auth is None
        self.auth = auth
        self._dir = workdir or Path(tempfile.mkdtemp(prefix="siteguard-mosquitto-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        """Start (or keep) the broker; returns once it accepts TCP connections."""
        if self.running:
            return self
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\n"
            + self._access_lines() +
            "persistence false\n"
            # the default cuts a subscriber's QoS 1 backlog at 1000: an alarm replay after an
            # outage must not be cut short
            "max_queued_messages 0\n"
            # an alarm is one small packet: Nagle would hold it for the previous one's ACK (40 ms)
            "set_tcp_nodelay true\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n"
        )
        with open(self._dir / "mosquitto.log", "ab") as log:
            self._proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {self.log_tail()}")
            if port_open(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout}s")

    def _access_lines(self) -> str:
        """Anonymous or not; with accounts, the auth.conf lines broker_acl wrote for any site broker."""
        if self.auth is None:
            return f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
        # as root mosquitto reads the password and ACL files after dropping to its own user, which
        # cannot enter a private work directory: a demo or test broker on loopback keeps root instead
        return self.auth.conf.read_text() + ("user root\n" if os.geteuid() == 0 else "")

    def stop(self, timeout: float = 5.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._proc = None

    def log_tail(self, n: int = 2000) -> str:
        path = self._dir / "mosquitto.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

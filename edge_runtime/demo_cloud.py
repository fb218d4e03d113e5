"""The demo's own cloud: ``siteguard cloud serve`` in a child process on a SQLite file, set up as an installer would.

It is driven through the cloud's command line (migrate, an admin account,
the demo device's registration with its credential written to a file, serve),
so the edge process imports nothing of the cloud service. :meth:`toggle`
pulls it down and brings it back: the demo's SIGUSR1 does that, to show the
backlog build up and drain on the console.
"""
from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .hardware_profile import local_profile

log = logging.getLogger(__name__)

ADMIN = "fleet-admin"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class DemoCloud:
    """One cloud service for the demo site's device."""

    def __init__(self, data_dir: Path, port: int, *, device_id: str, site: str, host: str = "127.0.0.1") -> None:
        self.directory = data_dir / "cloud"
        self.host, self.port = host, port
        self.device_id, self.site = device_id, site
        self.credential_file = data_dir / "device.credential"
        self.admin_password = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def prepare(self) -> None:
        """Create the database, the admin account and the demo device (its credential goes to a mode-600 file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.admin_password = secrets.token_urlsafe(12)
        password_file = self.directory / "admin.password"
        password_file.write_text(self.admin_password + "\n")
        password_file.chmod(0o600)
        self._cli("migrate")
        self._cli("admin", "add", ADMIN, "--role", "admin", "--password-file", str(password_file))
        self._cli("device", "register", self.device_id, "--site", self.site, "--name", f"{self.site} edge node",
                  "--type", "demo-edge", "--profile", json.dumps(local_profile()),
                  "--credential-file", str(self.credential_file))

    def start(self) -> None:
        """Start serving and wait until it answers /healthz."""
        if self.running:
            return
        log_file = (self.directory / "service.log").open("ab")
        self._process = subprocess.Popen(
            self._command("serve", "--host", self.host, "--port", str(self.port)),
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the demo cloud exited with {self._process.returncode}: see "
                                   f"{self.directory / 'service.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the demo cloud did not answer within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        """Stop serving (SIGTERM, then SIGKILL); the database stays for the next start."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def toggle(self) -> bool:
        """Pull the cloud down if it runs, bring it back if not; True when it runs after."""
        if self.running:
            self.stop()
        else:
            self.start()
        return self.running

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "edge_runtime", "cloud", *args, "--db", str(self.directory / "cloud.db"),
                "--data-dir", str(self.directory)]

    def _cli(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"siteguard cloud {' '.join(args[:2])} failed: {done.stderr.decode(errors='replace')}")

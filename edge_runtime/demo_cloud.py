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
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cloud_sync.contract.rollout import REPORT_INTERVAL_ENV
from models.signing import KEY_ENV

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
        self.signing_key_file = self.directory / "signing.key"  # the demo's own model-signing key, never the repo's
        self.admin_password = ""
        self.report_interval_s: float | None = None  # devices' update reports (the loop's: seconds)
        self._process: subprocess.Popen[bytes] | None = None
        self._worker: subprocess.Popen[bytes] | None = None

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

    def signing_public_key(self) -> bytes:
        """The public half of the demo's signing key (made on first use, mode 600): what the demo edge trusts."""
        from models.signing import private_key, public_key

        return public_key(private_key(self.signing_key_file)[0])

    def admin_token(self) -> str:
        """A new admin API token (printed once by the cloud's CLI) for the demo's own calls."""
        done = subprocess.run(self._command("token", "create", "--role", "admin", "--label", "demo loop"),
                              capture_output=True, timeout=60, env=self._env())
        if done.returncode != 0:
            raise RuntimeError(f"siteguard cloud token create failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode().strip().splitlines()[-1]

    def start_worker(self) -> None:
        """``siteguard cloud worker``: the training jobs' consumer, checking triggers every second."""
        if self._worker is not None and self._worker.poll() is None:
            return
        with (self.directory / "worker.log").open("ab") as log_file:
            self._worker = subprocess.Popen(self._command("worker", "--tick", "1"), stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True, env=self._env())

    def start(self) -> None:
        """Start serving and wait until it answers /healthz."""
        if self.running:
            return
        log_file = (self.directory / "service.log").open("ab")
        self._process = subprocess.Popen(
            self._command("serve", "--host", self.host, "--port", str(self.port)),
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=self._env(),
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
        _end(process)

    def stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        _end(worker)

    def _env(self) -> dict[str, str]:
        """The children's environment: the demo's signing key (when made) and report interval."""
        env = dict(os.environ)
        if self.signing_key_file.exists():
            env[KEY_ENV] = str(self.signing_key_file)
        if self.report_interval_s is not None:
            env[REPORT_INTERVAL_ENV] = str(self.report_interval_s)
        return env

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
        done = subprocess.run(self._command(*args), capture_output=True, timeout=60, env=self._env())
        if done.returncode != 0:
            raise RuntimeError(f"siteguard cloud {' '.join(args[:2])} failed: {done.stderr.decode(errors='replace')}")


def _end(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after a grace: a child of the demo never outlives it."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)

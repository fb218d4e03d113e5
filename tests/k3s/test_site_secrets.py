"""k3s/site_secrets.py: a bad site file is refused naming its key and nothing is written; rotating one
account keeps every other password; the password file holds hashes only."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tests.k3s.manifests import K3S, REPO

SCRIPT = K3S / "site_secrets.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=REPO)


def handout(directory: Path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (directory / "passwords.txt").read_text().splitlines())


def test_a_bad_site_file_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load((K3S / "site.example.yaml").read_text())
    data["storage"]["max_bytes"] = -1
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    done = run("--config", str(site), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "storage.max_bytes" in done.stderr
    assert not (tmp_path / "out").exists()

    data = yaml.safe_load((K3S / "site.example.yaml").read_text())
    data["sync"] = {"enabled": True, "url": "https://cloud.example.com"}
    site.write_text(yaml.safe_dump(data))
    done = run("--config", str(site), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "--device-credential" in done.stderr


def test_rotating_one_account_keeps_the_others(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert run("--config", str(K3S / "site.example.yaml"), "--out", str(first)).returncode == 0
    done = run("--config", str(K3S / "site.example.yaml"), "--out", str(second), "--reuse", str(first),
               "--rotate", "wearable-wb-01")
    assert done.returncode == 0, done.stderr
    before, after = handout(first), handout(second)
    assert before.keys() == after.keys() and before["wearable-wb-01"] != after["wearable-wb-01"]
    assert {k: v for k, v in before.items() if k != "wearable-wb-01"} == \
        {k: v for k, v in after.items() if k != "wearable-wb-01"}
    assert (first / "metrics-token").read_text() == (second / "metrics-token").read_text()
    site = yaml.safe_load((second / "site.yaml").read_text())
    assert site["mqtt"]["password"] == after[site["mqtt"]["username"]]  # the daemon's own, in its site file
    for name in ("site.yaml", "passwd", "passwords.txt", "metrics-token"):
        assert stat.S_IMODE((second / name).stat().st_mode) == 0o600, name
    passwd = (second / "passwd").read_text()
    assert all(password not in passwd for password in after.values())  # hashes only
    assert not (second / "auth.conf").exists()  # its paths are this machine's, not the pod's

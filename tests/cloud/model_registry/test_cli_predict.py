"""``siteguard cloud predict`` against a running service (its HTTP API, an admin token), and
``siteguard cloud serve --trusted-keys`` as a real child process that trusts exactly that file."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cloud_sync.db.engine import make_engine
from cloud_sync.model_registry.config import TRUSTED_KEYS_ENV
from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.service.keys import API
from cloud_sync.service.launch import CloudProcess
from edge_runtime.cli import main
from tests.cloud.model_registry.packages import CAMERA, Signer, camera_package, site_jpeg, tar_bytes
from tests.cloud.test_service_harness import Cloud, cloud  # noqa: F401
from tests.processes import stop_process


async def test_cli_predict_through_the_service(cloud: Cloud, signer: Signer, packages: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    async with cloud.http.post(f"{API}/models", data=tar_bytes(camera_package(packages, signer, "1.0.0")),
                               headers={"Authorization": f"Bearer {cloud.token}",
                                        "Content-Type": "application/x-tar"}) as r:
        assert r.status == 201
    image = tmp_path / "site.jpg"
    image.write_bytes(site_jpeg())
    args = ["cloud", "predict", CAMERA, "1.0.0", str(image), "--url", cloud.url, "--token", cloud.token]
    assert await asyncio.to_thread(main, args) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"]["version"] == "1.0.0" and answer["detections"] and answer["lineage"][0]["run_id"]

    assert await asyncio.to_thread(main, [*args[:3], "9.9", *args[4:]]) == 1
    assert "404: no model siteguard-ppe-detector version 9.9" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*args[:-1], "wrong-token"]) == 1
    assert "401" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert await asyncio.to_thread(main, [*args[:4], str(text), *args[5:]]) == 1
    assert "unknown input type '.txt'" in capsys.readouterr().err


def test_serve_trusts_the_keys_file_it_is_given(cloud_url: str, tmp_path: Path, signer: Signer, packages: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other_keys"
    other.write_text(Signer.new().public.hex() + "\n")
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(other))  # the flag must win over the environment
    trusted = tmp_path / "trusted"
    trusted.write_text(signer.public.hex() + "\n")
    engine = make_engine(cloud_url)
    try:
        token = ApiTokens(engine).create("cli", Role.OPERATOR, created_by="tests").token
    finally:
        engine.dispose()
    command = [sys.executable, "-m", "edge_runtime", "cloud", "serve", "--db", cloud_url, "--data-dir",
               str(tmp_path / "data"), "--port", "0", "--trusted-keys", str(trusted), "--model-cache-size", "1"]
    with (tmp_path / "cloud.log").open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = CloudProcess._await_ready(process)
        for root, status in ((camera_package(packages, signer, "1.0.0"), 201),
                             (camera_package(packages / "o", Signer.new(), "2.0.0"), 422)):
            request = urllib.request.Request(f"{url}{API}/models", method="POST", data=tar_bytes(root), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/x-tar"})
            try:
                with urllib.request.urlopen(request, timeout=30) as r:
                    assert r.status == status
            except urllib.error.HTTPError as exc:
                assert exc.code == status, exc.read()
    finally:
        stop_process(process)
        assert process.stdout is not None
        process.stdout.close()

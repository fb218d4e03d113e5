"""Every test here gets a throw-away signing key, trusted by any service it starts (through
``SITEGUARD_TRUSTED_MODEL_KEYS``, as a deployment would), and the cloud fixtures of tests/cloud."""
from __future__ import annotations

from pathlib import Path

import pytest

from cloud_sync.model_registry.config import CACHE_SIZE_ENV, TRUSTED_KEYS_ENV
from models.signing import KEY_ENV

from tests.cloud.model_registry.packages import Signer


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.new()


@pytest.fixture(autouse=True)
def trusted_keys_file(signer: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trusted_model_keys"
    path.write_text(f"# the tests' throw-away key\n{signer.public.hex()}\n")
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(path))
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(CACHE_SIZE_ENV, raising=False)
    return path


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    path = tmp_path / "packages"
    path.mkdir()
    return path

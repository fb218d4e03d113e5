"""The registry's configuration from the environment: trusted keys files, the cloud's own signing key
(its public half is trusted; never a key file in the repository), the cache size."""
from __future__ import annotations

from pathlib import Path

import pytest

from cloud_sync.model_registry.config import (
    CACHE_SIZE_ENV, TRUSTED_KEYS_ENV, ConfigError, RegistryConfig, export, read_trusted_keys,
)
from models.signing import KEY_ENV, key_id
from tests.cloud.model_registry.packages import REPO, Signer


def test_trusted_keys_and_the_clouds_own_key(tmp_path: Path, signer: Signer) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# fleet\n\n{signer.public.hex()}  # ci\n")
    own = Signer.new()
    config = RegistryConfig.from_env(tmp_path, {TRUSTED_KEYS_ENV: str(keys), KEY_ENV: own.private.hex(),
                                                CACHE_SIZE_ENV: "3"})
    assert config.trusted_keys == {key_id(signer.public): signer.public, key_id(own.public): own.public}
    assert config.signing_key == own.private and config.cache_size == 3
    assert config.store_dir == tmp_path / "models" and own.private.hex() not in repr(config)
    assert RegistryConfig.from_env(tmp_path, {}).trusted_keys == {}


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("00" * 32 + "\nnot-a-key\n")
    with pytest.raises(ConfigError, match=r"keys:2: not an Ed25519 public key"):
        read_trusted_keys(keys)
    with pytest.raises(ConfigError, match="cannot read"):
        RegistryConfig.from_env(tmp_path, {TRUSTED_KEYS_ENV: str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="must not live in the repository"):
        RegistryConfig.from_env(tmp_path, {KEY_ENV: str(REPO / "README.md")})
    with pytest.raises(ConfigError, match=f"{CACHE_SIZE_ENV}='0'"):
        RegistryConfig.from_env(tmp_path, {CACHE_SIZE_ENV: "0"})


def test_command_line_options_go_to_the_environment(tmp_path: Path) -> None:
    env: dict[str, str] = {TRUSTED_KEYS_ENV: "/old"}
    export(env, trusted_keys=str(tmp_path / "k"), signing_key_path=None, cache_size=2)
    assert env == {TRUSTED_KEYS_ENV: str(tmp_path / "k"), CACHE_SIZE_ENV: "2"}

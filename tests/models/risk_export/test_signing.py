"""The cloud's signing key comes from a path or SITEGUARD_SIGNING_KEY, never from the repository."""
from __future__ import annotations

from pathlib import Path

import pytest

from models.signing import KEY_ENV, REPOSITORY, SigningKeyError, signing_key

KEY = bytes(range(32))


def test_a_key_file_by_path_raw_or_hex(tmp_path: Path) -> None:
    raw, hexed = tmp_path / "raw.key", tmp_path / "hex.key"
    raw.write_bytes(KEY)
    hexed.write_text(KEY.hex() + "\n")
    assert signing_key(raw, environ={}) == KEY
    assert signing_key(hexed, environ={KEY_ENV: "ff" * 32}) == KEY  # a given path wins over the environment


def test_the_environment_holds_the_key_or_its_path(tmp_path: Path) -> None:
    assert signing_key(environ={KEY_ENV: KEY.hex()}) == KEY
    path = tmp_path / "cloud.key"
    path.write_bytes(KEY)
    assert signing_key(environ={KEY_ENV: str(path)}) == KEY


def test_no_key_a_bad_key_or_a_key_in_the_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match=f"set {KEY_ENV}"):
        signing_key(environ={})
    with pytest.raises(SigningKeyError, match="cannot read signing key"):
        signing_key(tmp_path / "missing.key", environ={})
    short = tmp_path / "short.key"
    short.write_text("abcd")
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        signing_key(short, environ={})
    with pytest.raises(SigningKeyError, match="must not live in the repository"):
        signing_key(REPOSITORY / "models" / "camera" / "default" / "signing_key.pub", environ={})

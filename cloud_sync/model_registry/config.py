"""How the service's model registry is set up: store, trusted keys, the cloud's signing key, limits.

Read from the environment, so every replica started the same way trusts the
same keys; ``siteguard cloud serve --trusted-keys PATH --signing-key PATH
--model-cache-size N`` sets these variables for its own process
(:func:`export`), which is also what a child service inherits.

- ``SITEGUARD_TRUSTED_MODEL_KEYS``: a file of hex Ed25519 public keys, one
  per line (``#`` comments and blank lines ignored). Uploads must be signed
  by one of them.
- ``SITEGUARD_SIGNING_KEY``: the key the cloud signs the packages it builds
  with (:func:`models.signing.signing_key`: a path or 64 hex characters,
  never a file in the repository). Its public half is trusted too.
- ``SITEGUARD_MODEL_CACHE_SIZE``: how many models the try-out API keeps loaded.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from models.signing import KEY_ENV, SigningKeyError, key_id, public_key, signing_key

TRUSTED_KEYS_ENV = "SITEGUARD_TRUSTED_MODEL_KEYS"
CACHE_SIZE_ENV = "SITEGUARD_MODEL_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 4
MAX_PACKAGE_BYTES = 512 * 1024**2  # an upload, as it arrives
MAX_IMAGE_BYTES = 16 * 1024**2
MAX_FEATURES_BYTES = 4 * 1024**2


class ConfigError(ValueError):
    """A trusted-keys file, signing key or limit that cannot be used; the message names it."""


@dataclass(frozen=True)
class RegistryConfig:
    store_dir: Path
    trusted_keys: dict[str, bytes] = field(default_factory=dict)  # key id -> raw Ed25519 public key
    signing_key: bytes | None = field(default=None, repr=False)
    cache_size: int = DEFAULT_CACHE_SIZE
    inference_threads: int = 2
    max_package_bytes: int = MAX_PACKAGE_BYTES
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_features_bytes: int = MAX_FEATURES_BYTES

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> RegistryConfig:
        """The config of a service whose data directory is ``data_dir`` (packages go to ``models/`` in it)."""
        env = os.environ if environ is None else environ
        keys = read_trusted_keys(Path(env[TRUSTED_KEYS_ENV])) if env.get(TRUSTED_KEYS_ENV) else {}
        own = None
        if env.get(KEY_ENV, "").strip():
            try:
                own = signing_key(environ=env)
            except SigningKeyError as exc:
                raise ConfigError(f"{KEY_ENV}: {exc}") from None
            pub = public_key(own)
            keys[key_id(pub)] = pub
        return cls(store_dir=Path(data_dir) / "models", trusted_keys=keys, signing_key=own,
                   cache_size=_positive(env, CACHE_SIZE_ENV, DEFAULT_CACHE_SIZE))


def read_trusted_keys(path: Path) -> dict[str, bytes]:
    """Key id -> raw public key for each hex key in ``path``; ConfigError naming the line that is not one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{TRUSTED_KEYS_ENV}: cannot read {path}: {exc}") from None
    keys: dict[str, bytes] = {}
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigError(f"{path}:{number}: not an Ed25519 public key (want 64 hex characters)")
        keys[key_id(raw)] = raw
    return keys


def export(environ: MutableMapping[str, str], *, trusted_keys: str | None = None, signing_key_path: str | None = None,
           cache_size: int | None = None) -> None:
    """Command-line options into the environment the service reads (given ones replace what is there)."""
    if trusted_keys is not None:
        environ[TRUSTED_KEYS_ENV] = str(Path(trusted_keys).resolve())
    if signing_key_path is not None:
        environ[KEY_ENV] = str(Path(signing_key_path).resolve())
    if cache_size is not None:
        environ[CACHE_SIZE_ENV] = str(cache_size)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name}={value!r}: want a whole number of at least 1")
    return int(value)

"""Ed25519 keys for signing model packages: raw private keys in, hex public keys out.

Beside :mod:`models.package` because every model family (camera, risk) signs
the same way. Production packages are signed by the cloud with a key from its
key store — a file named by path or by ``SITEGUARD_SIGNING_KEY``
(:func:`signing_key`); the private key never sits in this repository, and a
key file inside the checkout is refused. For development the trainer
makes a key when none is given, and writes the public half next to the
package (``signing_key.pub``, 64 hex characters) so a developer can trust it
explicitly. An edge node trusts the keys its site config lists, never a key
that arrives inside a package.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUBLIC_KEY_FILE = "signing_key.pub"
KEY_ENV = "SITEGUARD_SIGNING_KEY"
"""Environment variable with the signing key: 64 hex characters, or the path of a key file."""
REPOSITORY = Path(__file__).resolve().parents[1]


class SigningKeyError(ValueError):
    """No usable signing key: none configured, unreadable, malformed, or kept in the repository."""


def read_key(path: Path) -> bytes:
    """A raw 32-byte key from ``path``: the bytes themselves, or 64 hex characters (whitespace ignored)."""
    data = Path(path).read_bytes()
    if len(data) == 32:
        return data
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{path}: not an Ed25519 key (want 32 raw bytes or 64 hex characters)")
    return key


def signing_key(path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> bytes:
    """The cloud's private signing key: from ``path``, else from ``SITEGUARD_SIGNING_KEY``.

    Never makes one up (a production package signed by a throwaway key could
    never be trusted) and never reads a key file inside the repository.
    """
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV, "").strip()
    if path is None and not value:
        raise SigningKeyError(f"no signing key: pass a key file or set {KEY_ENV}")
    if path is None:
        try:
            key = bytes.fromhex(value)
        except ValueError:
            key = b""
        if len(key) == 32:
            return key
        path = Path(value)
    if Path(path).resolve().is_relative_to(REPOSITORY):
        raise SigningKeyError(f"{path}: signing keys must not live in the repository ({REPOSITORY})")
    try:
        return read_key(Path(path))
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read signing key: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SigningKeyError(str(exc)) from None


def private_key(path: Path | None) -> tuple[bytes, bool]:
    """The private key at ``path``, or a new one (written there, mode 0600, when a path is given); (key, created)."""
    if path is not None and Path(path).exists():
        return read_key(Path(path)), False
    raw = os.urandom(32)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    return raw, True


def public_key(private_raw: bytes) -> bytes:
    """The raw 32-byte public key of a raw private key."""
    key = Ed25519PrivateKey.from_private_bytes(private_raw).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short stable name for a public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def write_public_key(path: Path, public_raw: bytes) -> None:
    Path(path).write_text(public_raw.hex() + "\n")

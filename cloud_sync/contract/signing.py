"""Device request signatures: Ed25519 over method, path, body hash, timestamp and nonce.

A device credential is an Ed25519 private key the cloud generates at
registration and shows once; the cloud keeps only the public key, so a leaked
registry database cannot sign for any device. Every device request carries
the headers of :func:`sign`; the cloud :func:`verify`s the signature, refuses
a timestamp further than ``MAX_SKEW_S`` from its clock, and refuses a nonce it
has seen within that window (it stores them: replays are refused across
replicas, not by process memory).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

PREFIX = "sgdev1"
MAX_SKEW_S = 300.0
DEVICE_HEADER = "X-SiteGuard-Device"
KEY_HEADER = "X-SiteGuard-Key"
TIMESTAMP_HEADER = "X-SiteGuard-Timestamp"
NONCE_HEADER = "X-SiteGuard-Nonce"
SIGNATURE_HEADER = "X-SiteGuard-Signature"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AuthError(ValueError):
    """A request that is not signed as the contract requires; ``reason`` is safe to answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AuthError("not base64url") from None


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """What a device holds: its id, the key id the cloud knows the key by, and the private key."""

    device: str
    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, device: str) -> DeviceCredential:
        if not _ID.match(device):
            raise ValueError(f"device id {device!r} must be 1-64 of A-Z a-z 0-9 _ -")
        return cls(device, secrets.token_hex(8), Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> DeviceCredential:
        """Read ``sgdev1.<device>.<key id>.<seed>``; ValueError names what is wrong (never the secret)."""
        parts = text.strip().split(".")
        if len(parts) != 4 or parts[0] != PREFIX or not _ID.match(parts[1]) or not _ID.match(parts[2]):
            raise ValueError(f"a device credential has the form {PREFIX}.<device>.<key id>.<key>")
        try:
            seed = _unb64(parts[3])
            key = Ed25519PrivateKey.from_private_bytes(seed)
        except (AuthError, ValueError):
            raise ValueError("the credential's key is not a base64url Ed25519 key") from None
        return cls(parts[1], parts[2], key)

    def text(self) -> str:
        """The secret form, shown once and stored on the device only."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"{PREFIX}.{self.device}.{self.key_id}.{_b64(seed)}"

    def public_key(self) -> str:
        """What the cloud stores (base64url of the raw public key)."""
        return _b64(self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def canonical(method: str, path: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    """The signed string: one field per line; the body enters as its SHA-256."""
    return "\n".join((method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce)).encode()


def sign(credential: DeviceCredential, method: str, path: str, body: bytes, now: float) -> dict[str, str]:
    """Headers that authenticate one request (``path`` with its query string, as sent)."""
    timestamp, nonce = f"{now:.3f}", secrets.token_hex(16)
    signature = credential.private_key.sign(canonical(method, path, body, timestamp, nonce))
    return {
        DEVICE_HEADER: credential.device,
        KEY_HEADER: credential.key_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: _b64(signature),
    }


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Who signed a request, read from its headers before the key is looked up."""

    device: str
    key_id: str
    timestamp: float
    nonce: str
    signature: bytes


def read_headers(headers: Mapping[str, str], now: float) -> SignedRequest:
    """Parse the signature headers and check the clock; the signature itself is checked by :func:`verify`."""
    try:
        device, key_id = headers[DEVICE_HEADER], headers[KEY_HEADER]
        timestamp, nonce, signature = headers[TIMESTAMP_HEADER], headers[NONCE_HEADER], headers[SIGNATURE_HEADER]
    except KeyError as missing:
        raise AuthError(f"missing header {missing.args[0]}") from None
    if not _ID.match(device) or not _ID.match(key_id) or not re.fullmatch(r"[0-9a-f]{16,64}", nonce):
        raise AuthError("malformed device, key or nonce header")
    try:
        ts = float(timestamp)
    except ValueError:
        raise AuthError("malformed timestamp") from None
    if not abs(now - ts) <= MAX_SKEW_S:
        raise AuthError(f"stale timestamp: more than {MAX_SKEW_S:.0f} s from the server's clock")
    return SignedRequest(device, key_id, ts, nonce, _unb64(signature))


def verify(public_key: str, request: SignedRequest, method: str, path: str, body: bytes,
           headers: Mapping[str, str]) -> None:
    """Check the signature with the device key's stored public key; AuthError if it does not match."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_unb64(public_key))
        key.verify(request.signature, canonical(method, path, body, headers[TIMESTAMP_HEADER], request.nonce))
    except (InvalidSignature, ValueError):
        raise AuthError("bad signature") from None

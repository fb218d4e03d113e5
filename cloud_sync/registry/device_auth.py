"""Who signed a device request: the contract's signature checks against the registry's keys and nonces.

The order matters: headers and clock first (no database work for a stale or
malformed request), then the stored key, then the signature, and the nonce is
claimed only for a request the device really signed, so nobody can fill the
nonce table with made-up requests. 401 means "not this device's signature"
(the agent stops and reports), 403 "a real device that may not do this".
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from cloud_sync.contract import signing

from .devices import Device, DeviceRegistry
from .nonces import NonceLedger


class DeviceAuthError(Exception):
    """A refused device request: ``status`` 401 or 403, a ``reason`` safe to answer and a ``kind``
    from a short fixed list (a metric label)."""

    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.kind = kind
        self.reason = reason


class DeviceAuthenticator:
    def __init__(self, registry: DeviceRegistry, nonces: NonceLedger, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._registry = registry
        self._nonces = nonces
        self._clock = clock

    def authenticate(self, path_device: str, method: str, path_qs: str, headers: Mapping[str, str],
                     body: bytes) -> Device:
        """The device that signed the request for ``path_device``'s endpoint; DeviceAuthError otherwise."""
        now = self._clock()
        try:
            signed = signing.read_headers(headers, now)
        except signing.AuthError as exc:
            kind = "stale_timestamp" if exc.reason.startswith("stale") else "bad_headers"
            raise DeviceAuthError(401, kind, exc.reason) from None
        key = self._registry.signing_key(signed.device, signed.key_id)
        if key is None:
            raise DeviceAuthError(401, "unknown_key", "unknown device key")
        if not key.usable(now):
            raise DeviceAuthError(401, "revoked_key", "revoked or expired device key")
        try:
            signing.verify(key.public_key, signed, method, path_qs, body, headers)
        except signing.AuthError as exc:
            raise DeviceAuthError(401, "bad_signature", exc.reason) from None
        if not self._nonces.claim(signed.device, signed.nonce, signed.timestamp + signing.MAX_SKEW_S):
            raise DeviceAuthError(401, "replayed_nonce", "replayed nonce")
        if key.device.decommissioned_ts is not None:
            raise DeviceAuthError(403, "decommissioned", f"device {signed.device} is decommissioned")
        if signed.device != path_device:
            raise DeviceAuthError(403, "other_device", f"signed by device {signed.device}, not {path_device}")
        return key.device

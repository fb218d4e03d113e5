"""Device credentials and request signatures."""
from __future__ import annotations

import pytest

from cloud_sync.contract import signing
from cloud_sync.contract.signing import AuthError, DeviceCredential


def test_a_credential_survives_its_text_form() -> None:
    credential = DeviceCredential.generate("edge-1")
    again = DeviceCredential.parse(credential.text())
    assert (again.device, again.key_id, again.public_key()) == ("edge-1", credential.key_id, credential.public_key())


SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0"


@pytest.mark.parametrize("text", ["", "sgdev1.a.b", f"sgdev0.a.b.{SECRET}", f"sgdev1.a b.k.{SECRET}",
                                  f"sgdev1.a.k.{SECRET}!!", f"sgdev1.a.k.{SECRET}"])
def test_malformed_credentials_are_refused_without_echoing_the_secret(text: str) -> None:
    with pytest.raises(ValueError, match="credential") as info:
        DeviceCredential.parse(text)
    assert SECRET not in str(info.value)


def check(credential: DeviceCredential, headers: dict[str, str], method: str, path: str, body: bytes,
          now: float) -> None:
    request = signing.read_headers(headers, now)
    signing.verify(credential.public_key(), request, method, path, body, headers)


def test_a_signed_request_verifies_and_any_change_breaks_it() -> None:
    credential = DeviceCredential.generate("edge-1")
    headers = signing.sign(credential, "POST", "/v1/devices/edge-1/batches", b"body", 1000.0)
    check(credential, headers, "POST", "/v1/devices/edge-1/batches", b"body", 1010.0)
    for method, path, body in [("PUT", "/v1/devices/edge-1/batches", b"body"),
                               ("POST", "/v1/devices/edge-2/batches", b"body"),
                               ("POST", "/v1/devices/edge-1/batches", b"bodz")]:
        with pytest.raises(AuthError, match="bad signature"):
            check(credential, headers, method, path, body, 1010.0)
    with pytest.raises(AuthError, match="bad signature"):
        check(DeviceCredential.generate("edge-1"), headers, "POST", "/v1/devices/edge-1/batches", b"body", 1010.0)


def test_stale_and_incomplete_requests_are_refused() -> None:
    credential = DeviceCredential.generate("edge-1")
    headers = signing.sign(credential, "GET", "/x", b"", 1000.0)
    with pytest.raises(AuthError, match="stale"):
        signing.read_headers(headers, 1000.0 + signing.MAX_SKEW_S + 1)
    with pytest.raises(AuthError, match="stale"):
        signing.read_headers({**headers, signing.TIMESTAMP_HEADER: "nan"}, 1000.0)
    without = {k: v for k, v in headers.items() if k != signing.NONCE_HEADER}
    with pytest.raises(AuthError, match="missing header"):
        signing.read_headers(without, 1000.0)

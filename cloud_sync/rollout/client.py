"""The admin API over HTTP for ``siteguard cloud rollout|pin``: JSON in and out with a bearer token."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from cloud_sync.service.keys import API
from web_common.api_errors import error_text

TIMEOUT_S = 30.0


class CallFailed(Exception):
    """The service refused the call or could not be reached; the message says which and why."""


def call(url: str, token: str, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
         timeout_s: float = TIMEOUT_S) -> Any:
    """The decoded answer of ``method API+path`` (None for 204)."""
    address = url.rstrip("/") + API + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(address, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            text = answer.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        raise CallFailed(f"{exc.code}: {error_text(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CallFailed(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


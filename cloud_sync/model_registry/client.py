"""``siteguard cloud predict``: a try-out through a running service's HTTP API, with an admin token.

The same route the console uses, so the command line answers exactly what
the API does (detections or scores, lineage, timings).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cloud_sync.service.keys import API
from web_common.api_errors import error_text

TOKEN_ENV = "SITEGUARD_CLOUD_TOKEN"
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".json": "application/json"}
TIMEOUT_S = 60.0


class PredictFailed(Exception):
    """The service refused the try-out or could not be reached; the message says which and why."""


def content_type_of(path: Path) -> str:
    kind = CONTENT_TYPES.get(path.suffix.lower())
    if kind is None:
        raise PredictFailed(f"{path}: unknown input type {path.suffix!r}; use {', '.join(CONTENT_TYPES)}")
    return kind


def predict(url: str, token: str, name: str, version: str, file: Path, *, timeout_s: float = TIMEOUT_S) -> Any:
    """The service's answer to ``POST /api/v1/models/{name}/{version}/predict`` with ``file`` as the body."""
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        raise PredictFailed(f"cannot read {file}: {exc.strerror or exc}") from None
    path = f"{API}/models/{urllib.parse.quote(name, safe='')}/{urllib.parse.quote(version, safe='')}/predict"
    request = urllib.request.Request(url.rstrip("/") + path, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type_of(Path(file))})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise PredictFailed(f"{exc.code}: {error_text(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PredictFailed(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


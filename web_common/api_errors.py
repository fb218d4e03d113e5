"""What an API error answer says, for the command-line clients that show it: ``error`` and its ``details``.

The services answer errors as ``{"error": ..., "details": [...]}`` (web_common.api); anything else (a proxy's
page, a crash) is shown as its first 500 characters.
"""
from __future__ import annotations

import json


def error_text(body: bytes) -> str:
    try:
        error = json.loads(body)
        return "; ".join([str(error["error"]), *map(str, error.get("details", []))])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:500]

"""Compact JSON text for record fields that hold objects, parsed with a depth bound (bytes from the network)."""
from __future__ import annotations

import json
from typing import Any

from web_common.json_limits import MAX_DEPTH, too_deep

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    """Compact JSON; anything exotic (enums, paths) as its string, like the edge store writes it."""
    return _ENCODER.encode(value)


def loads(text: str) -> Any:
    """Parse JSON nested at most ``MAX_DEPTH`` deep; ValueError otherwise."""
    if too_deep(text.encode()):
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    return json.loads(text)

"""Compact JSON text for record fields that hold objects, parsed with a depth bound (bytes from the network)."""
from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    """Compact JSON; anything exotic (enums, paths) as its string, like the edge store writes it."""
    return _ENCODER.encode(value)


def loads(text: str) -> Any:
    """Parse JSON nested at most ``MAX_DEPTH`` deep; ValueError otherwise."""
    if _depth(text) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    return json.loads(text)


def _depth(text: str) -> int:
    """An upper bound of the nesting (brackets inside strings count too: cheap and safe)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest

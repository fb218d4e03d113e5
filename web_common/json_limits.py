"""Limits checked on JSON text before it is parsed: the parser itself must never be the attack.

Python's ``json`` recurses once per nesting level (a payload nested 100,000
deep raises ``RecursionError``, which no handler expects), so every JSON that
arrives from the field or the network is first checked here, at C speed:
brackets inside string literals do not count.
"""
from __future__ import annotations

import re

MAX_DEPTH = 32  # no message of the site contract nests deeper than 4

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if ``data`` opens more than ``limit`` arrays or objects inside each other."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the usual case, two scans of the bytes
    depth = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token[0] in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif token[0] != 0x22:  # a closing bracket (string literals are skipped)
            depth -= 1
    return False

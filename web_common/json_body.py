"""Reading a request's JSON body without letting the client choose how much work parsing costs.

Python's json parser recurses once per level of nesting, so a body of a few
thousand ``[`` raises RecursionError, and sign-in parses its body before anyone
is signed in. So the body is read up to a size bound, its nesting is checked
on the bytes before any parsing (json_limits, as the edge does for MQTT), and
the ``NaN``/``Infinity`` literals Python would accept (JSON has none) are
refused. Every refusal is a :class:`BodyError` carrying the 4xx status to answer.
"""
from __future__ import annotations

import json

from aiohttp import web

from .json_limits import MAX_DEPTH, too_deep

MAX_BYTES = 64 * 1024  # the largest body the edge API takes (an account, every character escaped) is under 8 KiB
_CHUNK = 16 * 1024


class BodyError(Exception):
    """A body refused before it reached a handler: ``status`` (400 or 413), a message and details."""

    def __init__(self, status: int, message: str, details: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def parse_json(data: bytes) -> object:
    """The JSON document in ``data`` (UTF-8); 400 when it is not JSON or nests too deeply to parse safely."""
    if too_deep(data):
        raise BodyError(400, "the request body is nested too deeply", [f"at most {MAX_DEPTH} levels"])
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the constants refused
        raise BodyError(400, "the request body is not valid JSON", [str(exc)[:200]]) from None


async def read_json(request: web.Request, *, max_bytes: int = MAX_BYTES) -> object:
    """The request's JSON body, read no further than ``max_bytes`` (413 beyond) and checked by parse_json."""
    if (request.content_length or 0) > max_bytes:
        raise _too_large(max_bytes)
    data = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):  # a chunked body states no length
        data += chunk
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
    return parse_json(bytes(data))


def _too_large(max_bytes: int) -> BodyError:
    return BodyError(413, "the request body is too large", [f"at most {max_bytes} bytes"])


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")

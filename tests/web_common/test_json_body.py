"""The web toolkit's one reader of JSON bodies: bounded in size and nesting before the parser runs."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from web_common.json_body import BodyError, parse_json, read_json


def test_brackets_inside_strings_are_not_nesting() -> None:
    note = '[{' * 5000 + '\\"' + ']}' * 5000
    assert parse_json(b'{"note": "' + note.encode() + b'"}') == {"note": note.replace('\\"', '"')}


@pytest.mark.parametrize(("data", "status", "message"), [
    (b"[" * 5000 + b"]" * 5000, 400, "the request body is nested too deeply"),
    (b'{"a": ' * 33 + b"1" + b"}" * 33, 400, "the request body is nested too deeply"),
    (b'{"limit": Infinity}', 400, "the request body is not valid JSON"),
    (b'[-Infinity, NaN]', 400, "the request body is not valid JSON"),
    (b"", 400, "the request body is not valid JSON"),
    (b'"\xc3"', 400, "the request body is not valid JSON"),
])
def test_bodies_the_parser_must_not_see_are_refused(data: bytes, status: int, message: str) -> None:
    with pytest.raises(BodyError) as refused:
        parse_json(data)
    assert (refused.value.status, str(refused.value)) == (status, message)


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async def echo(request: web.Request) -> web.Response:
        try:
            return web.json_response(await read_json(request, max_bytes=1000))
        except BodyError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)

    app = web.Application()
    app.router.add_post("/", echo)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_a_body_is_read_up_to_its_bound_with_or_without_a_length(client: TestClient) -> None:
    async def chunked(size: int) -> AsyncIterator[bytes]:
        yield b'"'
        for _ in range(size // 100):
            yield b"x" * 100
        yield b'"'

    assert (await client.post("/", data=b'{"a": [1, 2]}')).status == 200
    assert (await client.post("/", data=b'"' + b"x" * 1000 + b'"')).status == 413
    assert (await client.post("/", data=chunked(900))).status == 200
    r = await client.post("/", data=chunked(5000))
    assert (r.status, await r.json()) == (413, {"error": "the request body is too large"})

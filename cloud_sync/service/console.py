"""``/console/``: the fleet console's static files from ``static/console/`` (the page signs in and reads
``/api/v1`` itself; the files hold no data, so they are public).

Only plain names of files in that folder are served, with their content
type and ``Cache-Control: no-cache`` (an upgraded service never runs with
yesterday's script); the security headers (a strict CSP: this origin's
scripts and styles only, no inline code) come with every answer from the
shared guard.
"""
from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from web_common.api import public

from .keys import CONSOLE

STATIC = Path(__file__).with_name("static") / "console"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z0-9]{2,4}$")


def register_console(app: web.Application) -> None:
    app.router.add_get(CONSOLE, console_file, name="console")
    app.router.add_get(CONSOLE + "{name}", console_file)


@public
async def console_file(request: web.Request) -> web.FileResponse:
    name = request.match_info.get("name", "index.html")
    path = STATIC / name
    content_type = CONTENT_TYPES.get(path.suffix)
    if not _NAME.match(name) or content_type is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})

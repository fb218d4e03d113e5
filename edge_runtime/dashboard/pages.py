"""The dashboard's pages and their static assets (HTML, CSS, JavaScript modules, logo, alarm tone).

Everything the browser loads comes from this daemon: no CDN, no map tiles, no
run-time downloads, so the page works on a site network cut off from the
internet. The pages are plain HTML files in ``static/``; they fetch their data
from ``/api/v1`` and live updates from ``/api/v1/events``.

Routes:

* ``GET /`` the live page (map, alarms, workers, cameras, zone actions)
* ``GET /login`` the sign-in form (public: it loads only ``login.js``,
  ``style.css`` and ``siteguard.svg``, the static files the security middleware
  lets through without a session)
* ``GET /history`` alarm history by shift or time range, CSV export
* ``GET /report/exposure`` a printable per-worker gas exposure report
* ``GET /static/{name}`` the assets, with their content type, a strong ETag and
  ``Cache-Control: no-cache`` (the browser revalidates, so an upgraded daemon
  never runs with yesterday's JavaScript; a 304 costs one round trip)

HTML pages are answered ``Cache-Control: no-store``: they are only shown to
signed-in people (except the login form) and must not linger in shared caches.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from web_common.api import public

STATIC_DIR = Path(__file__).with_name("static")

#: extension -> Content-Type of what /static/ serves (anything else is 404)
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".wav": "audio/wav",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z0-9]{2,4}$")

#: route -> HTML file in static/
PAGES = {
    "/": "index.html",
    "/login": "login.html",
    "/history": "history.html",
    "/report/exposure": "report.html",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    etag: str
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from


class _Files:
    """Reads files from ``static/`` once and again only when they change on disk."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: dict[str, _Asset] = {}

    def get(self, name: str) -> _Asset | None:
        path = self._root / name
        try:
            st = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = path.read_bytes()
        asset = _Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', stamp)
        self._cache[name] = asset
        return asset


def _etag_matches(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def _page_handler(files: _Files, filename: str):  # type: ignore[no-untyped-def]
    async def page(request: web.Request) -> web.Response:
        asset = files.get(filename)
        if asset is None:
            raise web.HTTPNotFound(text=f"{filename} is missing from the installation")
        return web.Response(
            body=asset.body,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    page.__name__ = "page_" + re.sub(r"\W", "_", filename.rsplit(".", 1)[0])
    page.__doc__ = f"The dashboard page {filename}."
    return page


def _static_handler(files: _Files):  # type: ignore[no-untyped-def]
    async def static(request: web.Request) -> web.Response:
        """A dashboard asset from static/ (scripts, styles, logo, alarm tone)."""
        name = request.match_info["name"]
        ctype = CONTENT_TYPES.get(Path(name).suffix.lower())
        if ctype is None or not _ASSET_NAME.match(name):
            raise web.HTTPNotFound()
        asset = files.get(name)
        if asset is None:
            raise web.HTTPNotFound()
        headers = {
            "ETag": asset.etag,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if _etag_matches(request, asset.etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, headers={**headers, "Content-Type": ctype})

    return static


def register_pages(app: web.Application, static_dir: Path = STATIC_DIR) -> None:
    """Adds the pages and ``/static/{name}`` to ``app``.

    Only ``/login`` is public here; the security middleware also lets the three
    assets the login form needs through without a session.
    """
    files = _Files(static_dir)
    for route, filename in PAGES.items():
        handler = _page_handler(files, filename)
        if route == "/login":
            handler = public(handler)
        app.router.add_get(route, handler)
    app.router.add_get("/static/{name}", _static_handler(files))

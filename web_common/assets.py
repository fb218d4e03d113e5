"""Static page files for both apps: HTML pages and their assets, served from a package folder.

Everything a page loads comes from the app itself (no CDN, no run-time
downloads), so the pages work on a site network cut off from the internet.
Assets get their content type, a strong ETag and ``Cache-Control: no-cache``
(the browser revalidates, so an upgraded app never runs with yesterday's
JavaScript; a 304 costs one round trip). HTML pages are ``no-store``: most are
shown only to signed-in people and must not linger in shared caches.

``/common/{name}`` serves :data:`COMMON_DIR`, the browser modules both apps'
pages import (the DOM builder, the API client): public, as they hold no data.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .api import public

COMMON_DIR = Path(__file__).with_name("static")
COMMON_ROUTE = "/common/"

#: extension -> Content-Type of what an asset route serves (anything else is 404)
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".wav": "audio/wav",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z0-9]{2,4}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from


class AssetFiles:
    """Reads files from one folder once, and again only when they change on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, Asset] = {}

    def get(self, name: str) -> Asset | None:
        path = self.root / name
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
        asset = Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', stamp)
        self._cache[name] = asset
        return asset


def _etag_matches(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def page_handler(files: AssetFiles, filename: str, what: str) -> Handler:
    """A handler answering the HTML file ``filename`` (``what`` names the app in its docstring)."""
    async def page(request: web.Request) -> web.Response:
        asset = files.get(filename)
        if asset is None:
            raise web.HTTPNotFound(text=f"{filename} is missing from the installation")
        return web.Response(body=asset.body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    page.__name__ = "page_" + re.sub(r"\W", "_", filename.rsplit(".", 1)[0])
    page.__doc__ = f"The {what} page {filename}."
    return page


def asset_handler(files: AssetFiles) -> Handler:
    """A handler for ``{name}`` routes: a plain file name of a known kind in ``files``' folder, else 404."""
    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        content_type = CONTENT_TYPES.get(Path(name).suffix.lower())
        found = files.get(name) if content_type is not None and _ASSET_NAME.match(name) else None
        if found is None:
            raise web.HTTPNotFound()
        headers = {"ETag": found.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if _etag_matches(request, found.etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, headers={**headers, "Content-Type": content_type})

    asset.__doc__ = f"A static file from {files.root.name}/."
    return asset


def register_common(app: web.Application) -> None:
    """Adds ``/common/{name}``: the shared browser modules, public."""
    app.router.add_get(COMMON_ROUTE + "{name}", public(asset_handler(AssetFiles(COMMON_DIR))))

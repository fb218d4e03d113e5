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
* ``GET /static/{name}`` the assets, and ``GET /common/{name}`` the browser
  modules the cloud console shares, both served by :mod:`web_common.assets`
  (content types, ETags, revalidation; HTML ``no-store``)
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web_common.api import public
from web_common.assets import AssetFiles, asset_handler, page_handler, register_common

STATIC_DIR = Path(__file__).with_name("static")

#: route -> HTML file in static/
PAGES = {
    "/": "index.html",
    "/login": "login.html",
    "/history": "history.html",
    "/report/exposure": "report.html",
}


def register_pages(app: web.Application, static_dir: Path = STATIC_DIR) -> None:
    """Adds the pages and ``/static/{name}`` to ``app``.

    Only ``/login`` is public here; the security middleware also lets the three
    assets the login form needs through without a session.
    """
    files = AssetFiles(static_dir)
    for route, filename in PAGES.items():
        handler = page_handler(files, filename, "dashboard")
        if route == "/login":
            handler = public(handler)
        app.router.add_get(route, handler)
    app.router.add_get("/static/{name}", asset_handler(files))
    register_common(app)

"""``/console/``: the fleet console, one page from ``static/console/`` that signs in and reads ``/api/v1`` itself.

The page and its files hold no data, so they are public, as are the browser
modules it shares with the dashboard (``/common/``); they are served by
:mod:`web_common.assets` (content types, ETags, revalidation) under the shared
guard's strict CSP: this origin's scripts and styles only, no inline code.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web_common.api import public
from web_common.assets import AssetFiles, asset_handler, page_handler, register_common

from .keys import CONSOLE

STATIC = Path(__file__).with_name("static") / "console"


def register_console(app: web.Application, static_dir: Path = STATIC) -> None:
    files = AssetFiles(static_dir)
    app.router.add_get(CONSOLE, public(page_handler(files, "index.html", "fleet console")), name="console")
    app.router.add_get(CONSOLE + "{name}", public(asset_handler(files)))
    register_common(app)

"""The dashboard's browser tests use the shared real-Chromium fixtures of :mod:`tests.browser`."""
from tests.browser import Console, attach_console, browser, pytest_collection_modifyitems, screenshots  # noqa: F401

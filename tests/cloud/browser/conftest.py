"""The fleet console's browser tests: the shared real-Chromium fixtures, on the SQLite default only (the
admin API under the page is tested on SQLite and PostgreSQL by the cloud suite itself)."""
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.db.migrate import upgrade
from tests.browser import browser, pytest_collection_modifyitems, screenshots  # noqa: F401


@pytest.fixture
def cloud_url(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "cloud.db"
    upgrade(str(path))
    yield f"sqlite:///{path}"

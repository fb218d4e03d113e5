"""What the end-to-end tests of the model loop share: a real Mosquitto, and devices that report every second."""
from __future__ import annotations

import pytest

from cloud_sync.contract.rollout import REPORT_INTERVAL_ENV
from tests.broker import find_mosquitto


@pytest.fixture
def needs_mosquitto() -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")


@pytest.fixture
def fast_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Devices report every second (the service reads it at start: ask for this fixture before ``cloud``)."""
    monkeypatch.setenv(REPORT_INTERVAL_ENV, "1")

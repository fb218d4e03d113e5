"""The ``updates:`` section: defaults, the models folder, errors naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.config import ConfigError, parse_config

SITE = {"site": {"id": "s1", "origin_lat": 51.9, "origin_lon": 4.4}, "device_id": "edge-1"}


def test_defaults_are_off_and_cautious() -> None:
    updates = parse_config(SITE).updates
    assert updates.enabled is False and updates.bandwidth_bytes_per_s is None
    assert (updates.rollback.crash_loop_crashes, updates.rollback.crash_loop_window_s) == (3, 60.0)
    assert updates.rollback.health_every_s == 1.0 and updates.max_shadow_s == 600
    assert updates.models_path(Path("/data/site.db")) == Path("/data/models")
    custom = parse_config({**SITE, "updates": {"models_dir": "/srv/models"}}).updates
    assert custom.models_path(Path("/data/site.db")) == Path("/srv/models")


@pytest.mark.parametrize(("updates", "key"), [
    ({"poll_interval_s": 0}, "updates.poll_interval_s"),
    ({"retry_initial_s": 5, "retry_max_s": 1}, "updates.retry_max_s"),
    ({"rollback": {"crash_loop_crashes": 0}}, "updates.rollback.crash_loop_crashes"),
    ({"rollback": {"latency_budget_ms": -1}}, "updates.rollback.latency_budget_ms"),
    ({"bandwith_bytes_per_s": 10}, "updates.bandwith_bytes_per_s"),
])
def test_a_bad_value_names_its_key(updates: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**SITE, "updates": updates})
    assert key in dict(info.value.problems)

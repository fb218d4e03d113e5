"""Fixtures for the simulator tests: the shipped demo site and its scenarios."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from edge_runtime.config import SiteConfig, parse_config
from edge_runtime.sim.scenario import Scenario, load_scenario, shipped_scenario


def demo_site_data() -> dict[str, Any]:
    text = resources.files("edge_runtime.sim").joinpath("demo_site.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


@pytest.fixture(scope="session")
def demo_site() -> SiteConfig:
    return parse_config({**demo_site_data(), "serial": []})


@pytest.fixture(scope="session")
def demo_scenario(demo_site: SiteConfig) -> Scenario:
    return load_scenario(shipped_scenario("demo.yaml"), demo_site)

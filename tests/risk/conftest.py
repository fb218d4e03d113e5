"""Signed risk packages built once per session: a good model, a second version of it, and an inverted one."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from models.signing import key_id, private_key, public_key

from .packages import package


@dataclass(frozen=True)
class RiskPackages:
    good: Path
    good_v2: Path
    inverted: Path
    trusted: dict[str, bytes]


@pytest.fixture(scope="session")
def risk_packages(tmp_path_factory: pytest.TempPathFactory) -> RiskPackages:
    root = tmp_path_factory.mktemp("risk-packages")
    key = private_key(None)[0]
    public = public_key(key)
    return RiskPackages(package(root, key, "1.0.0"), package(root, key, "1.1.0"),
                        package(root, key, "2.0.0", inverted=True), {key_id(public): public})

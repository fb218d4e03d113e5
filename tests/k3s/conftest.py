"""Session fixtures: the cloud registry a device is registered in, one site's generated secrets, and every
overlay rendered once from them (kubectl, offline)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge_runtime.local_broker import BrokerError, mosquitto_binary
from tests.e2e.cloud_harness import register_device
from tests.k3s.manifests import (
    K3S, MIN_KUSTOMIZE, OVERLAYS, Rendered, copy_tree, generate_site, kustomize_version, render,
)

DEVICE, SITE = "site-1-edge", "site-1"


@dataclass(frozen=True)
class Cluster:
    """The tree as applied: the copy of k3s/, its generated site directory, and each overlay's objects."""

    tree: Path
    site_dir: Path
    cloud_db: str
    credential: Path
    overlays: dict[str, Rendered]


def _require_tools() -> None:
    version = kustomize_version()
    if version is None:
        pytest.skip("kubectl is not installed (make test installs it from apt: kubectl or kubernetes-client)")
    if version < MIN_KUSTOMIZE:
        pytest.skip(f"kubectl's kustomize is v{version[0]}.{version[1]}; the overlays need v5 "
                    "(Debian bookworm's kubernetes-client 1.20 ships v2): install kubectl 1.27 or newer")
    try:
        mosquitto_binary()  # site_secrets.py hashes the passwords with mosquitto_passwd
    except BrokerError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The example site with sync on, its device registered with a real cloud registry (SQLite) first."""
    _require_tools()
    tmp = tmp_path_factory.mktemp("k3s")
    cloud_db, credential = str(tmp / "cloud.db"), tmp / "device-credential"
    register_device(cloud_db, tmp / "cloud-data", DEVICE, SITE, credential)
    site = yaml.safe_load((K3S / "site.example.yaml").read_text())
    assert site["device_id"] == DEVICE and site["site"]["id"] == SITE
    site["sync"] = {"enabled": True, "url": "https://cloud.example.com"}
    site_file = tmp / "site.yaml"
    site_file.write_text(yaml.safe_dump(site))
    tree = copy_tree(tmp / "k3s")
    site_dir = generate_site(tree, site_file, credential)
    yield Cluster(tree, site_dir, cloud_db, credential, {o: Rendered(o, render(tree, o)) for o in OVERLAYS})

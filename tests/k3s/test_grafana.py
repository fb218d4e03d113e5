"""The provisioned Grafana dashboard: it parses, it has the panels the issue asks for, and every metric it
queries is one the code exports, read from the real registries (an edge daemon with sync and a camera
configured, and the cloud service's app) rather than from a list kept here."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud_sync.db.engine import make_engine
from cloud_sync.service.app import create_app as cloud_app
from cloud_sync.service.keys import METRICS
from cloud_sync.service.settings import ServiceSettings
from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.metrics import SiteMetrics
from tests.k3s.conftest import Cluster
from tests.k3s.manifests import K3S, REPO, data_of
from tests.k3s.test_crosscheck import site_data

DASHBOARD = K3S / "monitoring" / "dashboards" / "siteguard.json"
DEFAULT_MODEL = REPO / "models" / "camera" / "default"
METRIC = re.compile(r"\bsiteguard_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum"),
            "info": ("_info",)}


def sample_names(exposition: str) -> set[str]:
    """Every series name the exposition can hold, also for families with no sample yet (by their type)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names |= {s.name for s in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


@pytest.fixture(scope="module")
def exported(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    tmp = tmp_path_factory.mktemp("metrics")
    data = site_data(cluster, tmp)  # with a camera too: the camera families exist only with one
    data["cameras"] = [{"id": "cam-1", "source": str(tmp / "none.avi"), "model": str(DEFAULT_MODEL)}]
    daemon = EdgeDaemon(parse_config(data))
    edge = SiteMetrics(daemon)
    engine = make_engine(f"sqlite:///{cluster.cloud_db}")
    app = cloud_app(ServiceSettings(db_url=f"sqlite:///{cluster.cloud_db}", data_dir=tmp / "cloud"), engine)
    try:
        yield sample_names(edge.scrape(0).decode()) | sample_names(app[METRICS].scrape().decode())
    finally:
        edge.close()
        engine.dispose()


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_the_dashboard_parses_and_every_query_uses_an_exported_metric(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(_targets(dashboard))
    assert queries
    for title, expr in queries:
        used = set(METRIC.findall(expr))
        assert used, f"{title}: {expr} queries no SiteGuard metric"
        assert used <= exported, f"{title}: {sorted(used - exported)} are exported by nothing"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]


@pytest.mark.parametrize("metric", [
    "siteguard_alarm_latency_seconds_bucket",  # the alarm latency histogram
    "siteguard_alarms",  # alarms by priority and state
    "siteguard_readings_total",  # readings/s per sensor kind
    "siteguard_queue_shed_total",  # shed telemetry
    "siteguard_sync_backlog_rows", "siteguard_cloud_device_backlog_rows",  # sync backlog, edge and per device
    "siteguard_cloud_device_lag_seconds",  # lag per device
    "siteguard_camera_inference_fps",  # inference fps
    "siteguard_info",  # software versions
    "siteguard_model_info",  # model versions
])
def test_the_dashboard_shows_what_the_issue_asks_for(metric: str) -> None:
    assert metric in {m for _, expr in _targets(json.loads(DASHBOARD.read_text())) for m in METRIC.findall(expr)}


def test_the_provisioned_file_is_the_one_in_the_repository(cluster: Cluster) -> None:
    for rendered in cluster.overlays.values():
        provisioned = data_of(rendered.one("ConfigMap", "grafana-dashboards"))[Path(DASHBOARD).name]
        assert json.loads(provisioned) == json.loads(DASHBOARD.read_text())

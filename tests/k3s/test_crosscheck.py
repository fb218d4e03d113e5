"""The manifests against the code: the probes and scrape paths are routes the apps really serve, the ports
and arguments are what the command lines accept, the site file the pod reads is one the config models
accept with the keys the manifests depend on, and every SITEGUARD_ variable is one the code reads."""
from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from cloud_sync.cli import build_parser as cloud_parser
from cloud_sync.db.engine import make_engine
from cloud_sync.model_registry.config import read_trusted_keys
from cloud_sync.service.app import create_app as cloud_app
from cloud_sync.service.settings import ServiceSettings
from edge_runtime.broker_acl import site_accounts, write_broker_files
from edge_runtime.cli import build_parser as edge_parser
from edge_runtime.config import SiteConfig, parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.http_api import create_app as edge_app
from models.signing import read_key
from tests.k3s.conftest import Cluster
from tests.k3s.manifests import (
    EDGE_OVERLAYS, K3S, OVERLAYS, REPO, Obj, conf_lines, container, containers, data_of, mount_of, port, volume,
)

CODE = ("edge_runtime", "cloud_sync", "models", "firmware_bridge", "web_common")


def routes(app: web.Application) -> set[str]:
    """Every GET path the application's router serves."""
    return {r.canonical for r in app.router.resources()
            if any(route.method in ("GET", "*") for route in r)}


def site_data(cluster: Cluster, tmp: Path) -> dict[str, Any]:
    """The site file exactly as the pod reads it, but for the two paths only the pod has."""
    data: dict[str, Any] = yaml.safe_load(data_of(cluster.overlays["rpi"].one("Secret", "siteguard-site"))["site.yaml"])
    data["storage"] = {**data["storage"], "path": str(tmp / "siteguard.db")}
    data["sync"] = {**data["sync"], "credential_file": str(cluster.credential)}
    return data


def site_config(cluster: Cluster, tmp: Path) -> SiteConfig:
    return parse_config(site_data(cluster, tmp))


@pytest.fixture(scope="module")
def edge_routes(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return routes(edge_app(EdgeDaemon(site_config(cluster, tmp_path_factory.mktemp("edge")))))


@pytest.fixture(scope="module")
def cloud_routes(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    engine = make_engine(f"sqlite:///{cluster.cloud_db}")
    settings = ServiceSettings(db_url=f"sqlite:///{cluster.cloud_db}", data_dir=tmp_path_factory.mktemp("cloud"))
    yield routes(cloud_app(settings, engine))
    engine.dispose()


def _probes(c: Obj) -> dict[str, Obj]:
    kinds = ("startupProbe", "livenessProbe", "readinessProbe")
    return {k: c[k]["httpGet"] for k in kinds if "httpGet" in c.get(k, {})}


def _check_http(workload: Obj, main: Obj, served: set[str], port_number: int) -> None:
    """Liveness on /healthz, readiness on /readyz, the scrape annotation on /metrics: routes the app serves,
    on the port it listens on."""
    probes = _probes(main)
    assert probes["livenessProbe"]["path"] == "/healthz" and probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["path"] in served, f"{probe['path']} is not a route of the app"
        assert port(main, probe["port"]) == port_number
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] in served and int(annotations["prometheus.io/port"]) == port_number


@pytest.mark.parametrize("overlay", EDGE_OVERLAYS)
def test_edge_probes_ports_and_site_file_match_the_daemon(cluster: Cluster, overlay: str, edge_routes: set[str],
                                                          tmp_path: Path) -> None:
    r = cluster.overlays[overlay]
    edge = r.one("Deployment", "siteguard-edge")
    main = container(edge, "edge")
    args = edge_parser().parse_args(main["args"])
    assert args.command == "run"
    site_mount = mount_of(edge, main, "secret", r.one("Secret", "siteguard-site")["metadata"]["name"])
    assert Path(args.config).parent == Path(site_mount)
    secret = data_of(r.one("Secret", "siteguard-site"))
    assert Path(args.config).name in secret

    config = site_config(cluster, tmp_path)  # the real models: a key the daemon would refuse fails here
    _check_http(edge, main, edge_routes, config.http.port)
    assert config.http.host == "0.0.0.0"
    service = r.one("Service", "siteguard-edge")["spec"]["ports"][0]
    assert service["targetPort"] == "http" and port(main, "http") == config.http.port

    pod_site = yaml.safe_load(secret["site.yaml"])
    data_mount = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == "data")
    assert Path(pod_site["storage"]["path"]).parent == Path(data_mount)
    assert volume(edge, "data")["hostPath"]["path"]  # on the node: the database survives the pod
    assert Path(pod_site["sync"]["credential_file"]).parent == Path(site_mount)
    assert Path(pod_site["sync"]["credential_file"]).name in secret

    broker = r.one("Service", "mosquitto")
    assert config.mqtt.host == broker["metadata"]["name"] and config.mqtt.port == broker["spec"]["ports"][0]["port"]
    listener = dict(conf_lines(data_of(r.one("ConfigMap", "mosquitto-config"))["mosquitto.conf"]))["listener"]
    assert int(listener.split()[0]) == port(container(r.one("Deployment", "mosquitto"), "mosquitto"), "mqtt") \
        == config.mqtt.port
    assert config.mqtt.username and config.mqtt.password  # the daemon's own account, from the generator


def test_serial_devices_requested_match_the_ports_the_site_file_opens(cluster: Cluster, tmp_path: Path) -> None:
    devices = [p.port for p in site_config(cluster, tmp_path).serial if p.port.startswith("/dev/")]
    for overlay in ("rpi", "jetson"):
        edge = container(cluster.overlays[overlay].one("Deployment", "siteguard-edge"), "edge")
        assert int(edge["resources"]["limits"]["squat.ai/serial"]) == len(devices), overlay
    # multi-node: the daemon opens no device itself; each bridge serves one, on the port its Service names
    r = cluster.overlays["multi-node"]
    assert "squat.ai/serial" not in container(r.one("Deployment", "siteguard-edge"), "edge")["resources"]["limits"]
    bridge = r.one("Deployment", "serial-bridge-1")
    ser2net = data_of(r.one("ConfigMap", "ser2net-config"))["ser2net.yaml"]
    accepted = [int(p) for p in re.findall(r"accepter: telnet\(rfc2217\),tcp,(\d+)", ser2net)]
    served = re.findall(r"connector: serialdev,(/dev/\S+?),", ser2net)
    assert accepted == [port(container(bridge, "ser2net"), "rfc2217")]
    assert len(served) == int(container(bridge, "ser2net")["resources"]["limits"]["squat.ai/serial"])
    assert r.one("Service", "serial-bridge-1")["spec"]["ports"][0]["port"] == accepted[0]


def test_the_broker_config_is_the_generators_with_the_clusters_paths(cluster: Cluster, tmp_path: Path) -> None:
    r = cluster.overlays["rpi"]
    conf = dict(conf_lines(data_of(r.one("ConfigMap", "mosquitto-config"))["mosquitto.conf"]))
    generated = write_broker_files(tmp_path, "s", site_accounts(site_config(cluster, tmp_path)))
    for key, value in conf_lines(generated.conf.read_text()):  # what the demo's and the tests' brokers run
        assert key in conf, f"mosquitto.conf lacks {key}"
        if key == "allow_anonymous":
            assert conf[key] == value == "false"
    deployment = r.one("Deployment", "mosquitto")
    broker = container(deployment, "mosquitto")
    auth = r.one("Secret", "mosquitto-auth")
    acl = r.one("ConfigMap", "mosquitto-acl")
    auth_dir = mount_of(deployment, broker, "secret", auth["metadata"]["name"])
    acl_dir = mount_of(deployment, broker, "configMap", acl["metadata"]["name"])
    assert Path(conf["password_file"]) == Path(auth_dir) / "passwd" and Path(conf["acl_file"]) == Path(acl_dir) / "acl"
    assert "passwd" in data_of(auth) and "acl" in data_of(acl)
    assert conf["persistence_location"].rstrip("/") == next(
        m["mountPath"] for m in broker["volumeMounts"] if m["name"] == "data")


def test_the_prometheus_token_is_the_one_the_site_file_trusts(cluster: Cluster, tmp_path: Path) -> None:
    r = cluster.overlays["rpi"]
    token = data_of(r.one("Secret", "prometheus-edge-token"))["metrics-token"].strip()
    assert site_config(cluster, tmp_path).dashboard.metrics_token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    prometheus = r.one("Deployment", "prometheus")
    scrape = yaml.safe_load(data_of(r.one("ConfigMap", "prometheus-config"))["prometheus.yml"])
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    for job, secret, key in (("siteguard-edge", "prometheus-edge-token", "metrics-token"),
                             ("siteguard-cloud", "prometheus-cloud-token", "token")):
        mount = mount_of(prometheus, container(prometheus, "prometheus"), "secret", secret)
        assert jobs[job]["authorization"]["credentials_file"] == f"{mount}/{key}"
        kept = [rule["regex"] for rule in jobs[job]["relabel_configs"] if rule.get("action") == "keep"]
        assert job in kept  # the app label of the pods it scrapes


@pytest.mark.parametrize("overlay", ["cloud"])
def test_cloud_probes_ports_and_arguments_match_the_service(cluster: Cluster, overlay: str,
                                                             cloud_routes: set[str]) -> None:
    r = cluster.overlays[overlay]
    service = r.one("Deployment", "siteguard-cloud")
    main = container(service, "service")
    args = _cloud_args(main)
    assert args.cloud_command == "serve" and args.host == "0.0.0.0"
    _check_http(service, main, cloud_routes, args.port)
    assert r.one("Service", "siteguard-cloud")["spec"]["ports"][0]["targetPort"] == "http"
    assert int(service["spec"]["replicas"]) >= 2
    trainer = _cloud_args(container(r.one("Deployment", "siteguard-trainer"), "worker"))
    assert trainer.cloud_command == "worker" and trainer.jobs.startswith("redis://")  # huey on Redis
    assert args.jobs == trainer.jobs and args.db == trainer.db
    redis = r.one("Service", "siteguard-redis")
    assert args.jobs == f"redis://{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}/0"
    postgres = r.one("StatefulSet", "siteguard-postgres")
    assert postgres["spec"]["volumeClaimTemplates"] and r.one("Service", "siteguard-postgres")
    data = r.one("PersistentVolumeClaim", "siteguard-cloud-data")
    assert data["spec"]["accessModes"] == ["ReadWriteMany"]  # the replicas and the trainers share it


def _cloud_args(c: Obj) -> object:
    """The container's arguments through the real command lines: `siteguard cloud ...` as the edge CLI hands it."""
    env = {e["name"]: e.get("value", f"<{e['name']}>") for e in c.get("env", [])}
    argv = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in c["args"]]
    outer = edge_parser().parse_args(argv)
    assert outer.command == "cloud"
    return cloud_parser().parse_args(outer.cloud_args)


def _read_by_code() -> str:
    return "\n".join(p.read_text() for package in CODE for p in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_siteguard_variable_is_one_the_code_reads(cluster: Cluster, overlay: str) -> None:
    code = _read_by_code()
    for workload in cluster.overlays[overlay].workloads():
        for c in containers(workload):
            used = " ".join(map(shlex.quote, [*c.get("command", []), *c.get("args", [])]))
            for name in (e["name"] for e in c.get("env", []) if e["name"].startswith("SITEGUARD_")):
                assert f'"{name}"' in code or f"$({name})" in used, f"{overlay}: {name} is read by nothing"


def test_the_cloud_trusts_the_shipped_models_key(cluster: Cluster, tmp_path: Path) -> None:
    trusted = data_of(cluster.overlays["cloud"].one("ConfigMap", "siteguard-cloud-trusted-keys"))["trusted-keys"]
    (tmp_path / "keys").write_text(trusted)
    shipped = read_key(REPO / "models" / "camera" / "default" / "signing_key.pub")
    assert shipped in read_trusted_keys(tmp_path / "keys").values()
    service = container(cluster.overlays["cloud"].one("Deployment", "siteguard-cloud"), "service")
    env = {e["name"]: e for e in service["env"]}
    mount = next(m["mountPath"] for m in service["volumeMounts"] if m["name"] == "trusted-keys")
    assert env["SITEGUARD_TRUSTED_MODEL_KEYS"]["value"] == f"{mount}/trusted-keys"
    assert "secretKeyRef" in env["SITEGUARD_SIGNING_KEY"]["valueFrom"]  # never a value in a manifest


def test_grafana_reads_the_provisioned_datasource_and_dashboards(cluster: Cluster) -> None:
    for overlay in OVERLAYS:
        r = cluster.overlays[overlay]
        provisioning = data_of(r.one("ConfigMap", "grafana-provisioning"))
        datasource = yaml.safe_load(provisioning["datasources.yaml"])["datasources"][0]
        prometheus = r.one("Service", "prometheus")["spec"]["ports"][0]["port"]
        assert datasource["url"] == f"http://prometheus:{prometheus}"
        grafana = r.one("Deployment", "grafana")
        path = yaml.safe_load(provisioning["dashboards.yaml"])["providers"][0]["options"]["path"]
        dashboards = r.one("ConfigMap", "grafana-dashboards")
        assert mount_of(grafana, container(grafana, "grafana"), "configMap", dashboards["metadata"]["name"]) == path
        assert datasource["uid"] in data_of(dashboards)["siteguard.json"]


def test_site_file_for_k3s_is_valid_and_leaves_the_fixed_keys_to_the_generator() -> None:
    data = yaml.safe_load((K3S / "site.example.yaml").read_text())
    parse_config(data)
    assert not {"host", "port", "password"} & set(data.get("mqtt", {}))
    assert "http" not in data and "path" not in data.get("storage", {})

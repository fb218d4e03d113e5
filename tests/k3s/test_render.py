"""Every overlay renders, every object is valid Kubernetes of a pinned version, and nothing runs privileged or
as root unless its manifest says why on that very line."""
from __future__ import annotations

import re
import subprocess

import kubernetes_validate
import pytest

from tests.k3s.conftest import Cluster
from tests.k3s.manifests import (
    K3S, KUBERNETES_VERSION, OVERLAYS, REPO, Obj, containers, pod_spec, source_manifests,
)

# A line that grants root or privilege, and the comment that must stand beside it.
GRANTS = re.compile(r"^\s*(privileged: true|runAsUser: 0|runAsNonRoot: false|allowPrivilegeEscalation: true)\b(.*)$")
PINNED = re.compile(r"^[\w./-]+(:[\w][\w.-]*)(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_against_the_pinned_schemas(cluster: Cluster, overlay: str) -> None:
    objects = cluster.overlays[overlay].objects
    assert objects
    for obj in objects:
        where = f"{overlay}: {obj['kind']} {obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)  # strict: unknown fields refused
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message} at {'.'.join(map(str, exc.path))}")
        namespaced = obj["kind"] not in ("Namespace", "RuntimeClass")
        assert not namespaced or obj["metadata"].get("namespace") in ("siteguard", "siteguard-cloud"), where


def _may_run_as_root(pod: Obj, c: Obj) -> bool:
    merged = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    return merged.get("runAsUser") == 0 or merged.get("runAsNonRoot") is not True


def _explained() -> set[str]:
    """Names of the objects whose manifests grant root or privilege, each grant with a comment on its line."""
    names = set()
    for path in source_manifests():
        for doc in path.read_text().split("\n---"):
            grants = [m for m in map(GRANTS.match, doc.splitlines()) if m]
            for grant in grants:
                assert "#" in grant[2], f"{path.relative_to(REPO)}: `{grant[1]}` without a comment saying why"
            if grants:
                names.add(re.search(r"^  name: (\S+)", doc, re.M)[1])  # type: ignore[index]
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_runs_privileged_or_as_root_without_a_reason(cluster: Cluster, overlay: str) -> None:
    explained = _explained()
    for workload in cluster.overlays[overlay].workloads():
        pod, name = pod_spec(workload), workload["metadata"]["name"]
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
        for c in containers(workload):
            security = c.get("securityContext", {})
            risky = security.get("privileged") or _may_run_as_root(pod, c) \
                or security.get("allowPrivilegeEscalation") is not False
            assert not risky or name in explained, f"{overlay}: {name}/{c['name']} is privileged or may run as root"
            if not security.get("privileged"):
                assert security.get("capabilities", {}).get("drop") == ["ALL"], f"{name}/{c['name']} keeps capabilities"
    daemon = next(w for w in cluster.overlays[overlay].workloads()
                  if w["metadata"]["name"] in ("siteguard-edge", "siteguard-cloud"))
    main = pod_spec(daemon)["containers"][0]
    assert not _may_run_as_root(pod_spec(daemon), main) and not main["securityContext"].get("privileged")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_and_every_container_bounded(cluster: Cluster, overlay: str) -> None:
    for workload in cluster.overlays[overlay].workloads():
        for c in containers(workload):
            image = c["image"]
            assert PINNED.match(image) and not image.endswith(":latest"), f"{image} is not pinned to a tag"
            limits = c.get("resources", {}).get("limits", {})
            assert "memory" in limits and c["resources"].get("requests"), f"{c['name']}: no memory limit"


def test_no_site_secret_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "k3s"], cwd=REPO, capture_output=True, text=True,
                             timeout=30).stdout.split()
    assert not [p for p in tracked if p.startswith("k3s/site/")], "k3s/site/ is generated per site, never committed"
    assert "/site/" in (K3S / ".gitignore").read_text()
    for path in (p for p in tracked if not p.endswith(".py")):  # manifests, configs, docs: code says "password:"
        text = (REPO / path).read_text(errors="replace")
        assert "password:" not in text.replace("password: {", ""), f"{path} holds a password"
        assert not re.search(r"\$7\$|\$6\$", text), f"{path} holds a password hash"

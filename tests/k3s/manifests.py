"""k3s/ as a cluster would get it: a copy of the tree with a site's secrets generated into it, each overlay
rendered by ``kubectl kustomize``, and small lookups over the rendered objects.

The repository holds no site secrets (k3s/site is git-ignored), so every render here first runs
k3s/site_secrets.py, exactly as docs/deploy.md tells an installer to.
"""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K3S = REPO / "k3s"
OVERLAYS = ("rpi", "jetson", "multi-node", "cloud")
EDGE_OVERLAYS = ("rpi", "jetson", "multi-node")
KUBERNETES_VERSION = "1.34.0"  # the schemas every object must validate against (kubernetes-validate ships them)
MIN_KUSTOMIZE = (5, 0)  # Components, `patches` with inline JSON patches, per-generator options
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")

Obj = dict[str, Any]


def kustomize_version() -> tuple[int, int] | None:
    """kubectl's built-in kustomize as (major, minor), or None without kubectl."""
    if shutil.which("kubectl") is None:
        return None
    out = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"Kustomize Version: v(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def generate_site(tree: Path, site_file: Path, credential: Path | None = None) -> Path:
    """``site_secrets.py --out tree/site``; returns that directory."""
    out = tree / "site"
    command = [sys.executable, str(tree / "site_secrets.py"), "--config", str(site_file), "--out", str(out)]
    if credential is not None:
        command += ["--device-credential", str(credential)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return out


def copy_tree(dest: Path) -> Path:
    shutil.copytree(K3S, dest, ignore=shutil.ignore_patterns("site", "__pycache__"))
    return dest


def render(tree: Path, overlay: str) -> list[Obj]:
    done = subprocess.run(["kubectl", "kustomize", str(tree / "overlays" / overlay)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay}: {done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@dataclass(frozen=True)
class Rendered:
    """One overlay's objects."""

    overlay: str
    objects: list[Obj]

    def one(self, kind: str, name: str) -> Obj:
        """The object of ``kind`` named ``name`` (a generated one by its name before the hash suffix)."""
        found = [o for o in self.objects if o["kind"] == kind and _base_name(o) == name]
        assert len(found) == 1, f"{self.overlay}: {len(found)} {kind} named {name}"
        return found[0]

    def by_real_name(self, kind: str, name: str) -> Obj:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: no {kind} {name}"
        return found[0]

    def workloads(self) -> Iterator[Obj]:
        return (o for o in self.objects if o["kind"] in WORKLOADS)


def _base_name(obj: Obj) -> str:
    """A generated ConfigMap's or Secret's name without kustomize's hash suffix."""
    name: str = obj["metadata"]["name"]
    if obj["kind"] in ("ConfigMap", "Secret"):
        return re.sub(r"-[a-z0-9]{10}$", "", name)
    return name


def pod_spec(workload: Obj) -> Obj:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def containers(workload: Obj) -> list[Obj]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(workload: Obj, name: str) -> Obj:
    return next(c for c in containers(workload) if c["name"] == name)


def port(c: Obj, name: str) -> int:
    return next(int(p["containerPort"]) for p in c["ports"] if p["name"] == name)


def volume(workload: Obj, name: str) -> Obj:
    return next(v for v in pod_spec(workload)["volumes"] if v["name"] == name)


def mount_of(workload: Obj, c: Obj, kind: str, source: str) -> str:
    """Where ``c`` mounts the volume of ``kind`` (configMap, secret ...) named ``source``."""
    for v in pod_spec(workload)["volumes"]:
        ref = v.get(kind)
        if ref and (ref.get("name") or ref.get("secretName")) == source:
            return next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == v["name"])
    raise AssertionError(f"{c['name']} mounts no {kind} {source}")


def data_of(obj: Obj) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's decoded."""
    if obj["kind"] == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
    return dict(obj.get("data", {}))


def conf_lines(text: str) -> list[tuple[str, str]]:
    """mosquitto.conf as (directive, value) pairs, comments dropped."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            pairs.append((key, value.strip()))
    return pairs


def source_manifests() -> Iterator[Path]:
    """Every YAML file under k3s/ that holds Kubernetes objects (not kustomizations or tool configs)."""
    for path in sorted(K3S.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or "site" in path.relative_to(K3S).parts[:1]:
            continue
        text = path.read_text()
        if re.search(r"^kind: ", text, re.M) and "apiVersion:" in text:
            yield path

"""What can be checked of the Dockerfiles without building them (no Docker daemon here): each final stage
runs as a non-root user and has a health check, every base is pinned to an exact tag or a digest, the
build context sends only what the image installs, and the images' ports and commands are the manifests'."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.k3s.conftest import Cluster
from tests.k3s.manifests import K3S, REPO, container, port

IMAGES = K3S / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
EXACT = re.compile(r"^[\w./-]+:[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?$|^[\w./-]+@sha256:[0-9a-f]{64}$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [arg for kw, arg in self.instructions if kw == keyword]
        return found[-1] if found else None


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile: continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def effective(stages: list[Stage], stage: Stage, keyword: str) -> str | None:
    """The instruction's value in ``stage``, or inherited from the stage it is built FROM."""
    by_name = {s.name: s for s in stages if s.name}
    current: Stage | None = stage
    while current is not None:
        if (value := current.last(keyword)) is not None:
            return value
        current = by_name.get(current.base)
    return None


def resolve(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)


def final_stages(stages: list[Stage]) -> list[Stage]:
    """Stages that are images, not build steps: the last one and any other no later stage builds FROM."""
    bases = {s.base for s in stages}
    return [s for s in stages if s is stages[-1] or (s.name not in bases and s.name and "build" not in s.name)]


def test_there_is_an_image_for_the_edge_the_jetson_and_the_cloud() -> None:
    assert {p.name for p in DOCKERFILES} >= {"edge.Dockerfile", "edge-jetson.Dockerfile", "cloud.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_bases_are_pinned_and_images_run_unprivileged_with_a_health_check(path: Path) -> None:
    args, stages = parse(path)
    names = {s.name for s in stages}
    for stage in stages:
        base = resolve(stage.base, args)
        assert base in names or EXACT.match(base), f"{path.name}: base {base} is not pinned to an exact tag"
        assert not base.endswith(":latest")
    for stage in final_stages(stages):
        user = stage.last("USER") or ""
        assert user and user.split(":")[0] not in ("root", "0"), f"{path.name} {stage.name}: runs as root"
        health = stage.last("HEALTHCHECK")
        assert health and health.split()[0] != "NONE", f"{path.name} {stage.name}: no HEALTHCHECK"
        assert stage.last("ENTRYPOINT") or stage.last("CMD")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_build_context_sends_only_what_is_copied(path: Path) -> None:
    ignore = path.with_name(path.name + ".dockerignore").read_text().splitlines()
    assert "**" in ignore  # everything excluded first
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    _, stages = parse(path)
    for stage in stages:
        for keyword, arg in stage.instructions:
            if keyword == "COPY" and not arg.startswith("--from"):
                *sources, _ = arg.split()
                for source in sources:
                    assert source in allowed and (REPO / source).exists(), f"{path.name}: COPY {source}"


def test_the_images_serve_what_the_manifests_probe(cluster: Cluster) -> None:
    """The HEALTHCHECK's port and path and the default command are the ones the Deployments use."""
    for dockerfile, overlay, deployment, name in (
        ("edge.Dockerfile", "rpi", "siteguard-edge", "edge"),
        ("edge-jetson.Dockerfile", "jetson", "siteguard-edge", "edge"),
        ("cloud.Dockerfile", "cloud", "siteguard-cloud", "service"),
    ):
        _, stages = parse(IMAGES / dockerfile)
        image = stages[-1]
        c = container(cluster.overlays[overlay].one("Deployment", deployment), name)
        health = image.last("HEALTHCHECK") or ""
        assert f"127.0.0.1:{port(c, 'http')}{c['livenessProbe']['httpGet']['path']}" in health, dockerfile
        assert f"EXPOSE {port(c, 'http')}" in f"EXPOSE {image.last('EXPOSE')}"
        assert effective(stages, image, "ENTRYPOINT") == '["siteguard"]'
        assert c["args"][:2] == [a.strip('" ') for a in (image.last("CMD") or "").strip("[]").split(",")][:2]

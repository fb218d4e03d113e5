"""Another version of a registered risk model, for the rollout loop's later steps: the same model re-versioned,
optionally carrying a camera-sized extra artifact, signed with the bench's key and registered through
``POST /api/v1/models`` like any uploaded package.

The extra artifact is a TensorRT engine built for a GPU no device of the bench has (``sm00``): the cloud never
chooses it for a device and the risk slot never loads it, but the archive carries it and the device hashes it
when it verifies the package, as it would a real engine. The variant is a new version, so the registry, the
rollout and the device treat it as they treat any candidate.
"""
from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import aiohttp

from bench.support.training_cloud import call
from models.package import MANIFEST, SIGNATURE, Artifact, Manifest, sha256_file, sign_package, write_manifest

PADDING = "bench-padding.engine"
PADDING_TARGET = "bench-no-such-gpu-sm00-trt0"  # engine_fits() is false on every profile
CHUNK = 1 << 20


def build_variant(source: Path, work: Path, version: str, padding_bytes: int, key: bytes) -> Path:
    """``source`` (a stored, verified package directory) as ``version``, with ``padding_bytes`` of extra artifact
    (0: none), signed with ``key``: the ``.tar`` to upload."""
    root = work / version
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root)
    manifest = Manifest.model_validate_json((root / MANIFEST).read_bytes())
    artifacts = manifest.artifacts
    if padding_bytes > 0:
        with (root / PADDING).open("wb") as out:
            left = padding_bytes
            while left > 0:
                out.write(os.urandom(min(CHUNK, left)))  # random: the archive is as big on the wire as on disk
                left -= CHUNK
        artifacts = (*artifacts, Artifact(path=PADDING, format="tensorrt", precision="fp16", target=PADDING_TARGET,
                                          sha256=sha256_file(root / PADDING)))
    (root / SIGNATURE).unlink(missing_ok=True)
    write_manifest(root, manifest.model_copy(update={"version": version, "parent_version": manifest.version,
                                                     "artifacts": artifacts}))
    sign_package(root, key)
    archive = work / f"{version}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=version)
    shutil.rmtree(root)
    return archive


async def register_variant(http: aiohttp.ClientSession, token: str, archive: Path) -> dict[str, object]:
    status, body = await call(http, token, "POST", "/models", data=archive.read_bytes(),
                              content_type="application/x-tar")
    if status != 201:
        raise RuntimeError(f"POST /models ({archive.name}): {status} {body}")
    return body

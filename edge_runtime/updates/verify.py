"""From a downloaded archive to a verified package directory, or a refusal that says why.

The archive is unpacked into a staging directory of the slot's folder
(members that would leave it, links out and devices are refused; so is more
than ``max_bytes`` unpacked), verified by :func:`open_package`, and only then
renamed to its final directory: a directory of the models folder is always a
whole, verified package. Blocking: run on the agent's file thread.
"""
from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path

from models.package import ModelPackage, PackageError, load_package

STAGING = ".staging-"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def open_package(path: Path, trusted_keys: Mapping[str, bytes]) -> ModelPackage:
    """The one place the agent calls ``load_package``: signature (under the device's trusted keys only) and
    every artifact's sha256. A change to how keys are trusted (retirement dates) is a change here."""
    if not trusted_keys:
        raise PackageError("no trusted signing keys are configured: packages from the cloud are refused")
    return load_package(path, trusted_keys=dict(trusted_keys), require_signature=True)


def package_dir(slot_dir: Path, version: str, package_sha256: str) -> Path:
    """Where a verified package of this version lives (the version made safe as a file name)."""
    return slot_dir / f"{_UNSAFE.sub('_', version)[:64]}-{package_sha256[:12]}"


def unpack(archive: Path, final: Path, trusted_keys: Mapping[str, bytes], max_bytes: int) -> ModelPackage:
    """Unpack, verify and move into ``final``; PackageError (nothing left behind) when the package is refused."""
    staging = final.parent / (STAGING + final.name)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _extract(archive, staging, max_bytes)
        entries = list(staging.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        package = open_package(root, trusted_keys)
        shutil.rmtree(final, ignore_errors=True)
        root.replace(final)
        return ModelPackage(final, package.manifest, package.signed_by)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(archive: Path, target: Path, max_bytes: int) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            total = sum(m.size for m in members if m.isfile())
            if total > max_bytes:
                raise PackageError(f"the package unpacks to {total} bytes, more than the {max_bytes} allowed")
            tar.extractall(target, members=members, filter="data")  # refuses absolute paths, links out, devices
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"unsafe or unreadable package archive: {exc}") from None


def remove(path: Path, models_dir: Path) -> None:
    """Delete a package directory the agent unpacked; never anything outside the models folder."""
    if path.resolve().is_relative_to(models_dir.resolve()) and path.resolve() != models_dir.resolve():
        shutil.rmtree(path, ignore_errors=True)

"""Package storage: a verified copy of each version under ``<store>/<name>/<version>/``.

What is stored is exactly what was verified: the package (a directory or a
``.tar`` archive, compressed or not) is unpacked into a staging directory
inside the store, verified there with :func:`models.package.load_package`
against the trusted keys, and only ``manifest.json``, ``manifest.sig`` and
the artifacts the manifest lists are copied into the version's directory,
which is verified again before it is renamed into place (same filesystem,
so the rename is atomic and a reader never sees half a package). Archives
are bounded in members and unpacked bytes before anything is written.
"""
from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from models.package import MANIFEST, SIGNATURE, ModelPackage, PackageError, load_package

from .errors import PackageRefused

STAGING = ".staging"
MAX_MEMBERS = 1000
MAX_UNPACKED_BYTES = 2 * 1024**3
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


class PackageStore:
    """Where verified packages live; ``root`` may be a volume shared by replicas."""

    def __init__(self, root: Path, *, max_unpacked_bytes: int = MAX_UNPACKED_BYTES) -> None:
        self.root = Path(root)
        self.max_unpacked_bytes = max_unpacked_bytes

    def path_of(self, relative: str) -> Path:
        return self.root / relative

    @contextmanager
    def staged(self, source: str | Path, trusted_keys: Mapping[str, bytes]) -> Iterator[ModelPackage]:
        """The package at ``source``, verified and reduced to its signed files in a staging directory
        (removed when the block ends, unless :meth:`commit` moved it away)."""
        if not trusted_keys:
            raise PackageRefused("no trusted model signing keys are configured, so no package can be verified")
        staging = self.root / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="pkg-", dir=staging))
        try:
            unpacked = _unpack(Path(source), work / "in", self.max_unpacked_bytes)
            first = _verify(unpacked, trusted_keys)
            clean = work / "out"
            for relative in (MANIFEST, SIGNATURE, *(a.path for a in first.manifest.artifacts)):
                target = clean / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(unpacked / relative, target)
            package = _verify(clean, trusted_keys)
            if package.manifest.canonical() != first.manifest.canonical():
                raise PackageRefused(f"{source}: the package changed while it was being stored")
            _check_names(package)
            yield package
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def commit(self, package: ModelPackage) -> str:
        """Moves a staged package to ``<name>/<version>`` and returns that relative path.

        A directory already there without a registered version (a crash
        between rename and commit) is replaced: the caller holds the
        version's row lock, so nobody else is storing it.
        """
        relative = f"{package.manifest.name}/{package.manifest.version}"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        package.root.rename(target)
        package.root = target
        return relative

    def remove(self, relative: str) -> None:
        shutil.rmtree(self.root / relative, ignore_errors=True)


def _verify(root: Path, trusted_keys: Mapping[str, bytes]) -> ModelPackage:
    try:
        package = load_package(root, trusted_keys=dict(trusted_keys), require_signature=True)
    except PackageError as exc:
        raise PackageRefused(str(exc)) from None
    if package.signed_by is None:  # load_package verifies only when keys are given; they are, but be explicit
        raise PackageRefused(f"{root}: the signature was not verified")
    return package


def _check_names(package: ModelPackage) -> None:
    m = package.manifest
    if len(m.name) > 128:
        raise PackageRefused(f"model name {m.name[:40]!r}...: longer than 128 characters")
    if not VERSION_PATTERN.match(m.version) or ".." in m.version:
        raise PackageRefused(f"version {m.version!r}: use 1-64 of A-Z a-z 0-9 . _ + - starting with a letter or digit")
    if m.parent_version == m.version:
        raise PackageRefused(f"version {m.version} names itself as its parent")


def _unpack(source: Path, into: Path, max_bytes: int) -> Path:
    """The package directory: ``source`` itself, or a bounded extraction of the archive it is."""
    if source.is_dir():
        return source
    if not source.is_file():
        raise PackageRefused(f"{source}: no such package file or directory")
    try:
        with tarfile.open(source) as tar:
            members = []
            for member in tar:
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise PackageRefused(f"{source}: more than {MAX_MEMBERS} files in the archive")
            size = sum(m.size for m in members if m.isfile())
            if size > max_bytes:
                raise PackageRefused(f"{source}: {size} bytes unpacked, more than the limit of {max_bytes}")
            into.mkdir(parents=True)
            tar.extractall(into, members=members, filter="data")  # refuses absolute paths, links out, devices
    except (tarfile.TarError, OSError) as exc:
        raise PackageRefused(f"{source}: not a readable package archive: {exc}") from None
    entries = list(into.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into

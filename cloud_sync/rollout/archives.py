"""The package archives devices download: one deterministic ``.tar`` per stored version, built once.

A version is immutable, so its archive is too: built from the verified store
directory the first time a device is told about it, into
``<store>/../package-archives/<name>/<version>.tar`` (beside the store, on the
same volume, renamed into place so a reader never sees half of one), with its
sha256 in a ``.sha256`` file next to it. Members are sorted and their
owners, modes and times fixed, so every replica builds the same bytes and the
sha256 in a desired state matches whichever replica serves the download.
Serving is a plain file, so ``Range`` requests resume a partial download.
"""
from __future__ import annotations

import os
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from models.package import sha256_file

ARCHIVES = "package-archives"


@dataclass(frozen=True, slots=True)
class Archive:
    path: Path
    sha256: str
    size: int


class PackageArchives:
    def __init__(self, store_root: Path) -> None:
        self.root = Path(store_root).parent / ARCHIVES
        self._locks_lock = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}  # one per version: a big build holds up no other
        self._known: dict[tuple[str, str], Archive] = {}

    def archive(self, name: str, version: str, package_dir: Path) -> Archive:
        """The archive of ``package_dir`` (the stored ``name`` ``version``), built on first use."""
        known = self._known.get((name, version))
        if known is not None:
            return known
        path = self.root / name / f"{version}.tar"
        digest_file = path.with_name(path.name + ".sha256")
        with self._locks_lock:
            lock = self._locks.setdefault((name, version), threading.Lock())
        with lock:
            if not (path.is_file() and digest_file.is_file()):
                _build(package_dir, path, f"{name}-{version}")
                digest_file.write_text(sha256_file(path) + "\n")
            found = Archive(path, digest_file.read_text().strip(), path.stat().st_size)
            self._known[(name, version)] = found
        return found


def _build(source: Path, target: Path, top: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".build-", suffix=".tar", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(top, tarfile.DIRTYPE, 0o755, 0))
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                relative = file.relative_to(source).as_posix()
                with file.open("rb") as data:
                    tar.addfile(_info(f"{top}/{relative}", tarfile.REGTYPE, 0o644, file.stat().st_size), data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info

"""A real, small tmpfs a test can fill and free: what a full disk looks like to SQLite.

Mounting needs root (CI runs as root); elsewhere, or where the kernel or a
container refuses the mount, the test is skipped with the reason. The mount
is always undone, lazily if something still holds a file open on it.
"""
from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

FILLER = "filler"
_CHUNK = b"\0" * (64 * 1024)


class Tmpfs:
    """A mounted tmpfs at ``path``, filled up to its last byte by a file another writer holds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> None:
        """Write the filler until the file system says ENOSPC (a 1-byte write at the end takes the rest)."""
        with (self.path / FILLER).open("ab", buffering=0) as f:
            for chunk in (_CHUNK, b"\0"):
                try:
                    while True:
                        f.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise

    def free(self) -> None:
        """Space comes back: the filler is removed."""
        with suppress(FileNotFoundError):
            (self.path / FILLER).unlink()

    def resize(self, size_bytes: int) -> None:
        """The operator grows the file system (space comes back without deleting anything)."""
        subprocess.run(["mount", "-o", f"remount,size={size_bytes}", str(self.path)], check=True)


@contextmanager
def mounted_tmpfs(path: Path, size_bytes: int) -> Iterator[Tmpfs]:
    """Mount a tmpfs of ``size_bytes`` at ``path`` (created); skips the test where that is not possible."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root (CI runs these as root)")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip() or done.returncode}")
    try:
        yield Tmpfs(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)  # busy: detach now, freed when let go

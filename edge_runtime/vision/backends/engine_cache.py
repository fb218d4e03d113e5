"""On-disk cache of TensorRT engines built on the device, and the target-profile rules.

A serialized TensorRT engine only runs on the GPU architecture (compute
capability) and TensorRT version it was built with, and its numerics depend on
the precision it was built for. So an engine is cached under the key
(model sha256, GPU name + compute capability, TensorRT version, precision) -
plus the input shape, which picks the optimisation profile of an ONNX model
with dynamic dimensions. Pure Python: no TensorRT import, fully testable
without a GPU.

Layout of the cache directory::

    <key.filename()>          the engine bytes
    <key.filename()>.json     the key and the engine's sha256 (checked on read)
    <key.filename()>.lock     held while one process builds (others wait, then read)

A file that is truncated or does not match its sidecar is dropped and rebuilt,
never loaded. Writes are atomic (temp file + ``os.replace``). The oldest
entries beyond ``max_entries`` are removed after each write.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ENGINE_SUFFIX = ".engine"


def _default_cache_dir() -> Path:
    """``$SITEGUARD_ENGINE_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, under ``siteguard/trt-engines``."""
    if explicit := os.environ.get("SITEGUARD_ENGINE_CACHE"):
        return Path(explicit)
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory (a bare container user)
        base = Path(tempfile.gettempdir())
    return base / "siteguard" / "trt-engines"


DEFAULT_CACHE_DIR = _default_cache_dir()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def version_tag(trt_version: str) -> str:
    """``"10.3.0.30"`` -> ``"10.3"``: engines are not portable across TensorRT minor versions."""
    parts = trt_version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else parts[0]


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """The GPU and TensorRT an engine is built for."""

    gpu_name: str  # "Orin", "NVIDIA GeForce RTX 3060"
    compute_capability: tuple[int, int]  # (8, 7)
    trt_version: str  # tensorrt.__version__, "10.3.0.30"

    @property
    def sm(self) -> str:
        return f"sm{self.compute_capability[0]}{self.compute_capability[1]}"

    @property
    def target(self) -> str:
        """The manifest target profile of an engine built here: ``orin-sm87-trt10.3``."""
        return f"{_slug(self.gpu_name)}-{self.sm}-trt{version_tag(self.trt_version)}"

    def mismatch(self, target: str) -> str | None:
        """Why an engine built for ``target`` cannot run here, or None when it can.

        The target must name this compute capability (``sm87``) and this TensorRT
        major version (``trt10``); when it names a minor version too
        (``trt10.3``), that must match as well. A target naming neither (``cpu``,
        ``jetson``) is refused: an engine of unknown origin is not worth a crash.
        """
        sm = re.search(r"(?:^|[^a-z0-9])sm_?(\d+)", target.lower())
        trt = re.search(r"trt[-_]?(\d+)(?:\.(\d+))?", target.lower())
        if sm is None or trt is None:
            return f"target {target!r} does not name a compute capability (smXY) and a TensorRT version (trtX.Y)"
        if sm.group(1) != self.sm[2:]:
            return f"engine built for sm{sm.group(1)}, this GPU ({self.gpu_name}) is {self.sm}"
        major, _, rest = self.trt_version.partition(".")
        minor = rest.split(".")[0] if rest else "0"
        if trt.group(1) != major or (trt.group(2) is not None and trt.group(2) != minor):
            return f"engine built for TensorRT {trt.group(1)}{'.' + trt.group(2) if trt.group(2) else ''}, this is {self.trt_version}"
        return None


@dataclass(frozen=True, slots=True)
class EngineKey:
    """What an engine depends on; equal keys are interchangeable engines."""

    model_sha256: str  # sha256 of the ONNX artifact the engine was built from
    gpu_name: str
    compute_capability: tuple[int, int]
    trt_version: str
    precision: str  # the precision actually built: "fp32", "fp16", "int8"
    input_shape: tuple[int, ...] = ()  # fixes the optimisation profile of dynamic inputs

    @classmethod
    def for_device(
        cls, model_sha256: str, device: DeviceProfile, precision: str, input_shape: tuple[int, ...] = ()
    ) -> EngineKey:
        return cls(model_sha256, device.gpu_name, tuple(device.compute_capability), device.trt_version, precision,
                   tuple(input_shape))

    def digest(self) -> str:
        """sha256 of the canonical JSON of every field: the identity of the key."""
        fields = asdict(self)
        fields["compute_capability"] = list(self.compute_capability)
        fields["input_shape"] = list(self.input_shape)
        return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def filename(self) -> str:
        """Readable and unique: ``<model12>-<gpu>-sm87-trt10.3-fp16-<digest12>.engine``."""
        cc = f"sm{self.compute_capability[0]}{self.compute_capability[1]}"
        return (
            f"{self.model_sha256[:12]}-{_slug(self.gpu_name)}-{cc}-trt{version_tag(self.trt_version)}-"
            f"{self.precision}-{self.digest()[:12]}{ENGINE_SUFFIX}"
        )


class EngineCache:
    """Engines on disk, keyed by :class:`EngineKey`."""

    def __init__(self, root: str | Path = DEFAULT_CACHE_DIR, *, max_entries: int = 8) -> None:
        self.root = Path(root).expanduser()
        self.max_entries = max_entries

    def path_for(self, key: EngineKey) -> Path:
        return self.root / key.filename()

    def get(self, key: EngineKey) -> bytes | None:
        """The cached engine, or None (absent, truncated or not this key: then it is removed)."""
        path = self.path_for(key)
        meta_path = path.with_name(path.name + ".json")
        try:
            data = path.read_bytes()
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("key_digest") != key.digest() or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            self.discard(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def put(self, key: EngineKey, data: bytes) -> Path:
        """Store atomically; evicts the least recently used entries beyond ``max_entries``."""
        if not data:
            raise ValueError("refusing to cache an empty engine")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path_for(key)
        meta = {
            "key": {**asdict(key), "compute_capability": list(key.compute_capability), "input_shape": list(key.input_shape)},
            "key_digest": key.digest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        _atomic_write(path, data)
        _atomic_write(path.with_name(path.name + ".json"), json.dumps(meta, indent=1).encode())
        self.evict(keep=path)
        return path

    def discard(self, key: EngineKey) -> None:
        path = self.path_for(key)
        for p in (path, path.with_name(path.name + ".json")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes]) -> tuple[bytes, bool]:
        """``(engine, built)``: the cached engine, or ``build()`` stored under ``key``.

        One builder at a time per key across processes (a ``flock`` on the key's
        lock file): two camera workers starting together build once.
        """
        data = self.get(key)
        if data is not None:
            return data, False
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock(key):
            data = self.get(key)  # another process may have built it while we waited
            if data is not None:
                return data, False
            data = build()
            self.put(key, data)
            return data, True

    def entries(self) -> list[Path]:
        """Cached engine files, least recently used first."""
        if not self.root.is_dir():
            return []
        files = [p for p in self.root.iterdir() if p.suffix == ENGINE_SUFFIX and p.is_file()]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def evict(self, *, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used engines beyond ``max_entries``; returns what went."""
        files = self.entries()
        excess = len(files) - self.max_entries
        removed: list[Path] = []
        for p in files:
            if excess <= 0:
                break
            if p == keep:
                continue
            for q in (p, p.with_name(p.name + ".json"), p.with_name(p.name + ".lock")):
                with contextlib.suppress(FileNotFoundError):
                    q.unlink()
            removed.append(p)
            excess -= 1
        return removed

    @contextlib.contextmanager
    def _lock(self, key: EngineKey) -> Iterator[None]:
        path = self.path_for(key)
        with open(path.with_name(path.name + ".lock"), "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

"""The model package: a directory (or .tar archive of one) holding ``manifest.json``,
the artifacts it lists, and ``manifest.sig``, an Ed25519 signature over the
canonical manifest.

Shared by the cloud side (which builds and signs packages) and the edge (which
refuses any package whose signature, hashes or shape do not check out, and keeps
running the model it has). The manifest says everything a runtime needs to use
the model without guessing: input tensor and preprocessing, output decoding,
labels, and per-artifact format, precision, target and sha256.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class PackageError(ValueError):
    """A package that must not be loaded: unreadable, tampered, or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    name: str
    shape: tuple[int, ...] = Field(description="-1 for a dynamic dimension")
    dtype: Literal["float32", "float16", "int8", "uint8", "int32", "int64"]


class Preprocessing(_Strict):
    """How a camera frame becomes the input tensor."""

    resize: Literal["letterbox", "stretch"] = "letterbox"
    color: Literal["RGB", "BGR"] = "RGB"
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)  # (pixel - mean) / std
    pad_value: int = 114


class Decoder(_Strict):
    """How output tensors become detections."""

    type: Literal["yolo", "ssd", "classification", "grid"]
    conf_threshold: float = Field(0.35, ge=0, le=1)
    iou_threshold: float = Field(0.45, ge=0, le=1)
    box_format: Literal["cxcywh", "xyxy", "yxyx"] = "cxcywh"
    normalized: bool = Field(True, description="boxes in 0..1 of the input, else input pixels")
    anchors: tuple[tuple[float, float], ...] = Field((), description="SSD/anchor-based: (w, h) per anchor")
    strides: tuple[int, ...] = ()
    has_objectness: bool = False
    max_detections: int = 100


class Artifact(_Strict):
    path: str
    format: Literal["tflite", "onnx", "tensorrt"]
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    target: str = Field("cpu", description="profile it was built for: cpu, rpi4, jetson-orin-sm87-trt10...")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    quantization: dict[str, tuple[float, int]] = Field(
        default_factory=dict, description="tensor name -> (scale, zero_point) for int8 artifacts"
    )


class ArtifactCheck(_Strict):
    """How one compiled artifact measured against the float model it came from, on the held-out set.

    Written by the build (:mod:`models.build`) so the signature covers the
    claim that the file on the device is as good as the model that was gated.
    """

    recall: float = Field(description="risk: recall on confirmed alarms; detection: recall over all classes")
    recall_by_class: dict[str, float] = Field(default_factory=dict, description="detection: recall per class")
    reference_recall: float = Field(description="the float model's recall on the same set")
    max_deviation: float = Field(description="largest output difference from the float model (scores, boxes)")
    margin: float = Field(description="the most recall (overall and per class) the artifact may lose")


class Manifest(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str
    parent_version: str | None = None
    task: Literal["detection", "classification", "risk"]
    labels: tuple[str, ...]
    features: tuple[str, ...] = Field((), description="risk: names of the input columns, in order")
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    preprocessing: Preprocessing = Preprocessing()
    decoder: Decoder | None = None
    metrics: dict[str, float] = Field(default_factory=dict, description="measured on a held-out split")
    training_run_id: str | None = None
    created: str | None = None
    artifacts: tuple[Artifact, ...] = Field(min_length=1)
    checks: dict[str, ArtifactCheck] = Field(
        default_factory=dict, description="artifact path -> its measured agreement with the float model")
    device_builds: tuple[str, ...] = Field(
        (), description="target profiles whose TensorRT engine the device builds from the ONNX artifact and caches")

    def canonical(self) -> bytes:
        """The bytes the signature covers: sorted keys, no whitespace, UTF-8."""
        return canonical_json(self.document())

    def document(self) -> dict[str, object]:
        """The manifest as JSON data; fields added later are left out while empty, so older signatures verify."""
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if not (k in _ADDED_LATER and not v)}

    def artifact(self, fmt: str, precision: str | None = None) -> Artifact | None:
        for a in self.artifacts:
            if a.format == fmt and (precision is None or a.precision == precision):
                return a
        return None


_ADDED_LATER = frozenset({"features", "checks", "device_builds"})


def canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ModelPackage:
    """A verified package on disk: ``manifest`` plus ``path_of(artifact)``."""

    def __init__(self, root: Path, manifest: Manifest, signed_by: str | None) -> None:
        self.root = root
        self.manifest = manifest
        self.signed_by = signed_by

    def path_of(self, artifact: Artifact) -> Path:
        return self.root / artifact.path

    @property
    def lineage(self) -> dict[str, str]:
        """What every detection carries: which model made it."""
        return {"model": self.manifest.name, "version": self.manifest.version}


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a device trusts, and when it stops trusting it.

    ``retired_after`` (Unix seconds, None: never) lets keys rotate without
    stranding devices: the site file lists the old key with a date and the new
    one beside it; until the date packages signed by either load, after it only
    the new key's do.
    """

    public: bytes
    retired_after: float | None = None

    def retired(self, at_ts: float) -> bool:
        return self.retired_after is not None and at_ts > self.retired_after


TrustedKeys = Mapping[str, bytes | TrustedKey]
"""Key id -> raw 32-byte Ed25519 public key, or a :class:`TrustedKey` with a retirement date."""


def load_package(
    path: str | Path, *, trusted_keys: TrustedKeys | None = None, require_signature: bool = True,
    at_ts: float | None = None,
) -> ModelPackage:
    """Open and verify a package directory or ``.tar`` archive.

    Every listed artifact must exist with its sha256; with ``trusted_keys``
    (key id -> raw Ed25519 public key or :class:`TrustedKey`), ``manifest.sig``
    must verify under one of them that is not retired at ``at_ts`` (default:
    now). Raises :class:`PackageError` naming what is wrong.
    """
    root = Path(path)
    if root.is_file() and tarfile.is_tarfile(root):
        root = _extract(root)
    if not root.is_dir():
        raise PackageError(f"{path}: not a model package directory or archive")
    try:
        raw = (root / MANIFEST).read_bytes()
        manifest = Manifest.model_validate_json(raw)
    except OSError as exc:
        raise PackageError(f"{path}: cannot read {MANIFEST}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise PackageError(f"{path}: invalid manifest: {where}: {first['msg']}") from None
    keys = trust(trusted_keys) if trusted_keys is not None else None
    signed_by = _check_signature(root, manifest, keys, require_signature and trusted_keys is not None,
                                 time.time() if at_ts is None else at_ts)
    for art in manifest.artifacts:
        file = root / art.path
        if not file.resolve().is_relative_to(root.resolve()):
            raise PackageError(f"{path}: artifact path {art.path!r} leaves the package")
        if not file.is_file():
            raise PackageError(f"{path}: artifact {art.path} is missing")
        if sha256_file(file) != art.sha256:
            raise PackageError(f"{path}: artifact {art.path} does not match its sha256 (tampered or truncated)")
    return ModelPackage(root, manifest, signed_by)


def trust(keys: TrustedKeys) -> dict[str, TrustedKey]:
    """Either form of trusted keys as :class:`TrustedKey` values (a plain key never retires)."""
    return {k: v if isinstance(v, TrustedKey) else TrustedKey(bytes(v)) for k, v in keys.items()}


def _check_signature(root: Path, manifest: Manifest, keys: dict[str, TrustedKey] | None, required: bool,
                     at_ts: float) -> str | None:
    sig_file = root / SIGNATURE
    if not sig_file.exists():
        if required:
            raise PackageError(f"{root}: unsigned package ({SIGNATURE} missing)")
        return None
    if not keys:
        return None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signature = sig_file.read_bytes()
    retired: list[str] = []
    for key_id, key in keys.items():
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(signature, manifest.canonical())
        except (InvalidSignature, ValueError):
            continue
        if not key.retired(at_ts):
            return key_id
        retired.append(f"{key_id} (retired after {_iso(key.retired_after)})")  # type: ignore[arg-type]
    if retired:
        raise PackageError(f"{root}: signed only by retired keys: {', '.join(retired)}")
    raise PackageError(f"{root}: signature does not verify under any trusted key")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def sign_package(root: Path, private_key_raw: bytes) -> None:
    """Write ``manifest.sig`` (cloud side; tests and the training pipeline use it too)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    manifest = Manifest.model_validate_json((Path(root) / MANIFEST).read_bytes())
    key = Ed25519PrivateKey.from_private_bytes(private_key_raw)
    (Path(root) / SIGNATURE).write_bytes(key.sign(manifest.canonical()))


def write_manifest(root: Path, manifest: Manifest) -> None:
    (Path(root) / MANIFEST).write_text(json.dumps(manifest.document(), indent=2) + "\n")


def _extract(archive: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="siteguard-model-"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")  # refuses absolute paths, links out, devices
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise PackageError(f"{archive}: unsafe or unreadable archive: {exc}") from None
    entries = list(target.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target

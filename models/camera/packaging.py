"""The manifest of the camera model: what a runtime needs to run it, and what it scored.

Built once from the exported files, evaluated as a :class:`ModelPackage`
view, then written with its metrics and signed — so the signature covers the
accuracy claim along with the hashes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from models.package import (
    Artifact,
    Decoder,
    Manifest,
    ModelPackage,
    Preprocessing,
    TensorSpec,
    sha256_file,
    sign_package,
    write_manifest,
)
from models.signing import PUBLIC_KEY_FILE, key_id, public_key, write_public_key

from .scene import LABELS

INPUT_NAME = "images"
OUTPUT_NAME = "detections"


@dataclass(frozen=True, slots=True)
class Exported:
    """An artifact file and what the manifest must say about it."""

    path: Path
    format: str
    precision: str
    quantization: dict[str, tuple[float, int]] = field(default_factory=dict)


MODEL_NAME = "siteguard-ppe-detector"
PREPROCESSING = Preprocessing(
    resize="letterbox", color="RGB", layout="NHWC", mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), pad_value=114
)
DECODER = Decoder(type="yolo", conf_threshold=0.35, iou_threshold=0.45, box_format="cxcywh", normalized=True,
                  has_objectness=False, max_detections=100)


def build_manifest(
    root: Path, exported: Sequence[Exported], *, input_size: int, rows: int, version: str, run_id: str,
    metrics: dict[str, float] | None = None,
) -> Manifest:
    """The manifest for the files in ``root``; paths are stored relative to it."""
    artifacts = tuple(
        Artifact.model_validate({
            "path": e.path.relative_to(root).as_posix(), "format": e.format, "precision": e.precision,
            "target": "cpu", "sha256": sha256_file(e.path), "quantization": e.quantization,
        })
        for e in exported
    )
    return Manifest(
        name=MODEL_NAME,
        version=version,
        task="detection",
        labels=LABELS,
        inputs=(TensorSpec(name=INPUT_NAME, shape=(1, input_size, input_size, 3), dtype="float32"),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(1, rows, 4 + len(LABELS)), dtype="float32"),),
        preprocessing=PREPROCESSING,
        decoder=DECODER,
        metrics=dict(metrics or {}),
        training_run_id=run_id,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        artifacts=artifacts,
    )


def draft(root: Path, manifest: Manifest) -> ModelPackage:
    """An unsigned, unwritten view of the package, for evaluating its artifacts before the metrics exist."""
    return ModelPackage(Path(root), manifest, None)


def finish(root: Path, manifest: Manifest, metrics: dict[str, float], private_raw: bytes) -> tuple[Manifest, str]:
    """Write the manifest with ``metrics``, sign it, and write the public key beside it; (manifest, key id)."""
    final = manifest.model_copy(update={"metrics": dict(sorted(metrics.items()))})
    write_manifest(Path(root), final)
    sign_package(Path(root), private_raw)
    public_raw = public_key(private_raw)
    write_public_key(Path(root) / PUBLIC_KEY_FILE, public_raw)
    return final, key_id(public_raw)

"""``siteguard infer MODEL IMAGE...``: run a model on image files, one JSON object per image.

MODEL is a model package (directory or ``.tar``) or a bare ``.tflite`` /
``.onnx`` file. A bare file has no manifest: one is synthesised from the
model's own input and output details plus the options (``--decoder``,
``--labels``, ``--input-size``, ``--layout``, ``--mean``/``--std``...). Each
line on stdout::

    {"image": ..., "detections": [{"label", "score", "box": [x1, y1, x2, y2]}],
     "backend": ..., "model": ..., "version": ..., "sha256": ..., "inference_ms": ...}

``--raw`` adds ``outputs``: each output tensor's name, shape, dtype and a
summary of its values (min, max, mean, sha256 of its bytes) - for comparing
runtimes and exports.

Signatures: with ``--trusted-key`` the package must carry a signature that
verifies under one of the keys; without keys only the artifact hashes are
checked (a signature the package carries is reported as unchecked);
``--no-verify`` skips signatures altogether for unsigned dev packages. A bare
model file has no signature. Exit status: 0 when every image ran, 1 when
some image could not be read, 2 when the model could not be loaded.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

DESCRIPTION = "Run a model package or a bare .tflite/.onnx file on images; one JSON object per image."
EXIT_IMAGE = 1
EXIT_MODEL = 2
DEFAULT_BOX_FORMAT = {"yolo": "cxcywh", "ssd": "yxyx", "classification": "xyxy"}


# --------------------------------------------------------------------------- options -> manifest


def parse_labels(value: str | None) -> tuple[str, ...] | None:
    """A labels file (one per line, ``#`` comments) or a comma-separated list."""
    if not value:
        return None
    path = Path(value)
    if "," not in value and path.is_file():
        lines = (line.strip() for line in path.read_text().splitlines())
        return tuple(line for line in lines if line and not line.startswith("#"))
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_size(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", value)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {value!r}")
    return int(m.group(1)), int(m.group(2))


def parse_triple(value: str) -> tuple[float, float, float]:
    parts = [float(v) for v in value.split(",")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected one value or three (R,G,B order of the model), got {value!r}")
    return parts[0], parts[1], parts[2]


def parse_anchors(value: str) -> tuple[tuple[float, float], ...]:
    """``"0.1,0.1;0.2,0.3"`` -> ((0.1, 0.1), (0.2, 0.3))."""
    try:
        pairs = [tuple(float(v) for v in p.split(",")) for p in value.split(";") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected W,H;W,H..., got {value!r}") from None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"expected W,H;W,H..., got {value!r}")
    return tuple((p[0], p[1]) for p in pairs)


def read_public_key(path: Path) -> bytes:
    """An Ed25519 public key file: raw 32 bytes, hex, base64 or PEM."""
    data = path.read_bytes()
    if len(data) == 32:
        return data
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

        return load_pem_public_key(text).public_bytes(Encoding.Raw, PublicFormat.Raw)
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            raw = decode(text.decode("ascii"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if len(raw) == 32:
            return raw
    raise ValueError(f"{path}: not an Ed25519 public key (raw 32 bytes, hex, base64 or PEM)")


def _guess_layout(shape: tuple[int, ...]) -> str:
    if len(shape) == 4 and shape[1] in (1, 3) and shape[3] not in (1, 3):
        return "NCHW"
    return "NHWC"


def _label_count(decoder: str, outputs: tuple[Any, ...], objectness: bool) -> int:
    """How many classes the outputs hold, for a bare model given no labels."""
    if decoder == "yolo":
        dims = [d for d in outputs[0].shape if d > 1]
        return (min(dims) if dims else 0) - 4 - int(objectness)
    if decoder == "ssd":
        scores = [o for o in outputs if o.shape and o.shape[-1] not in (4, -1)]
        return scores[0].shape[-1] if scores else 1
    return int(np.prod([d for d in outputs[0].shape if d > 0]))


def synthesize_package(path: Path, args: argparse.Namespace, registry: Any) -> Any:
    """A ModelPackage for a bare model file, its manifest made from the model and the options."""
    from models.package import Artifact, Manifest, ModelPackage, PackageError, sha256_file

    desc = registry.describe(path, args.backend.partition(":")[0])
    if len(desc.inputs) != 1:
        raise PackageError(f"{path}: {len(desc.inputs)} inputs; one image input is supported")
    inp = desc.inputs[0]
    shape = list(inp.shape)
    if len(shape) != 4:
        raise PackageError(f"{path}: input shape {inp.shape} is not an image batch [1, H, W, C] or [1, C, H, W]")
    layout = args.layout or _guess_layout(inp.shape)
    hw = (1, 2) if layout == "NHWC" else (2, 3)
    ch = 3 if layout == "NHWC" else 1
    if args.input_size:
        w, h = args.input_size
        for axis, want in zip(hw, (h, w)):
            if shape[axis] > 0 and shape[axis] != want:
                raise PackageError(f"{path}: the model's input is {tuple(inp.shape)}; --input-size {w}x{h} does not fit")
            shape[axis] = want
    if any(shape[a] <= 0 for a in hw):
        raise PackageError(f"{path}: the model's input size is dynamic {tuple(inp.shape)}: give --input-size WxH")
    shape[0] = 1 if shape[0] <= 0 else shape[0]
    shape[ch] = 3 if shape[ch] <= 0 else shape[ch]
    quantized = inp.dtype in ("int8", "uint8") and inp.name in desc.quantization
    decoder_type = args.decoder
    if decoder_type is None and not args.raw:
        raise PackageError(f"{path}: a bare model needs --decoder yolo|ssd|classification (or --raw)")
    labels = parse_labels(args.labels)
    if labels is None:
        n = _label_count(decoder_type, desc.outputs, args.objectness) if decoder_type else 0
        labels = tuple(f"class{i}" for i in range(max(n, 0)))
    decoder = None
    if decoder_type:
        decoder = {
            "type": decoder_type,
            "box_format": args.box_format or DEFAULT_BOX_FORMAT[decoder_type],
            "normalized": not args.pixel_boxes,
            "has_objectness": args.objectness,
            "anchors": args.anchors or (),
            "strides": args.strides or (),
        }
    precision = "int8" if quantized else ("fp16" if inp.dtype == "float16" else "fp32")
    artifact = Artifact(
        path=path.name,
        format={".tflite": "tflite", ".onnx": "onnx"}.get(path.suffix.lower(), "tensorrt"),
        precision=precision,
        target="cpu",
        sha256=sha256_file(path),
        quantization=desc.quantization,
    )
    name = re.sub(r"[^a-z0-9_.-]+", "-", path.stem.lower()).strip("-.") or "model"
    manifest = Manifest.model_validate(
        {
            "name": name if name[0].isalnum() else f"m{name}",
            "version": "0+bare",
            "task": "classification" if decoder_type == "classification" else "detection",
            "labels": labels,
            "inputs": [{"name": inp.name, "shape": shape, "dtype": "float32" if quantized else inp.dtype}],
            "outputs": [o.model_dump() for o in desc.outputs],
            "preprocessing": {
                "layout": layout,
                "resize": args.resize or "letterbox",
                "color": args.color or "RGB",
                "mean": args.mean or (0.0, 0.0, 0.0),
                "std": args.std or (255.0, 255.0, 255.0),
            },
            "decoder": decoder,
            "artifacts": [artifact.model_dump()],
        }
    )
    return ModelPackage(path.parent, manifest, signed_by=None)


def _with_overrides(package: Any, args: argparse.Namespace) -> Any:
    """``--conf``/``--iou``/``--max-detections`` override the manifest's decoder thresholds."""
    from models.package import ModelPackage

    decoder = package.manifest.decoder
    update = {k: v for k, v in (("conf_threshold", args.conf), ("iou_threshold", args.iou),
                                ("max_detections", args.max_detections)) if v is not None}
    if decoder is None or not update:
        return package
    manifest = package.manifest.model_copy(update={"decoder": decoder.model_copy(update=update)})
    return ModelPackage(package.root, manifest, package.signed_by)


def open_model(args: argparse.Namespace, err: TextIO) -> Any:
    """The ModelRunner for ``args.model`` (raises PackageError/BackendError)."""
    from edge_runtime.vision.backends.registry import FORMAT_OF_SUFFIX, default_registry
    from edge_runtime.vision.model_runner import ModelRunner
    from models.package import SIGNATURE, load_package

    registry = default_registry()
    path = Path(args.model)
    config = _thread_configs(registry, args.threads)
    if path.is_file() and path.suffix.lower() in FORMAT_OF_SUFFIX:
        package = synthesize_package(path, args, registry)
    else:
        keys = {Path(k).stem: read_public_key(Path(k)) for k in args.trusted_key}
        if args.no_verify:
            package = load_package(path, trusted_keys=None, require_signature=False)
        else:
            package = load_package(path, trusted_keys=keys or None, require_signature=bool(keys))
            if not keys and (package.root / SIGNATURE).exists():
                err.write(f"infer: {path}: signature not checked (no --trusted-key given); artifact hashes verified\n")
    package = _with_overrides(package, args)
    return ModelRunner.from_package(package, backend=args.backend, config=config, registry=registry)


def _thread_configs(registry: Any, threads: int | None) -> dict[str, dict[str, int]] | None:
    """``--threads`` for every back-end whose config has ``num_threads`` (per-key configs)."""
    if not threads:
        return None
    configs = {}
    for key in registry.loaders:
        try:
            model = getattr(registry.backend_class(key), "config_model", None)
        except Exception:  # noqa: BLE001, S112 - a back-end that cannot load takes no threads
            continue
        if model is not None and "num_threads" in model.model_fields:
            configs[key] = {"num_threads": threads}
    return configs or None


# --------------------------------------------------------------------------- running


def summarize(name: str, array: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(array)
    values = a.astype(np.float64) if a.size else np.zeros(1)
    return {
        "name": name,
        "shape": list(a.shape),
        "dtype": a.dtype.name,
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
    }


def run_infer(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import cv2

    from edge_runtime.vision.backends.base import BackendError
    from models.package import PackageError

    try:
        runner = open_model(args, err)
    except (PackageError, BackendError, OSError, ValueError) as exc:
        message = str(exc)
        err.write(f"infer: {message if message.startswith(str(args.model)) else f'{args.model}: {message}'}\n")
        if isinstance(exc, PackageError) and "unsigned" in str(exc):
            err.write("infer: use --no-verify for an unsigned development package\n")
        return EXIT_MODEL
    status = 0
    lineage = runner.lineage
    try:
        for image in args.images:
            frame = cv2.imread(str(image), cv2.IMREAD_COLOR) if Path(image).is_file() else None
            if frame is None:
                err.write(f"infer: {image}: cannot read the image\n")
                status = EXIT_IMAGE
                continue
            try:
                detections, outputs, timings = runner.run(frame)
            except BackendError as exc:
                err.write(f"infer: {image}: {exc}\n")
                status = EXIT_IMAGE
                continue
            record: dict[str, Any] = {
                "image": str(image),
                "detections": [
                    {"label": d.label, "score": round(d.score, 5), "box": [round(v, 2) for v in d.box]}
                    for d in detections
                ],
                "backend": lineage.backend,
                "model": lineage.model,
                "version": lineage.version,
                "sha256": lineage.sha256,
                "artifact": lineage.artifact,
                "precision": lineage.precision,
                "inference_ms": round(timings.inference_ms, 3),
                "preprocess_ms": round(timings.preprocess_ms, 3),
                "postprocess_ms": round(timings.postprocess_ms, 3),
            }
            if args.raw:
                record["outputs"] = [summarize(spec.name, o) for spec, o in zip(runner.manifest.outputs, outputs)]
            out.write(json.dumps(record) + "\n")
            out.flush()
    finally:
        runner.close()
    return status


# --------------------------------------------------------------------------- parser


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model package (directory or .tar) or a bare .tflite/.onnx file")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything OpenCV reads)")
    parser.add_argument("--backend", default="auto", help="auto, litert, onnxruntime or tensorrt; KEY:PRECISION "
                        "picks the artifact too (litert:int8)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the back-end")
    parser.add_argument("--raw", action="store_true", help="also print each output tensor's shape, dtype and summary")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip signature checks (unsigned dev packages); artifact hashes are still checked")
    parser.add_argument("--trusted-key", action="append", default=[], metavar="FILE",
                        help="Ed25519 public key (raw, hex, base64 or PEM), repeatable: the package must verify under one")
    parser.add_argument("--conf", type=float, default=None, help="score threshold (overrides the manifest)")
    parser.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (overrides the manifest)")
    parser.add_argument("--max-detections", type=int, default=None, help="detections kept per image")
    bare = parser.add_argument_group("bare model files (.tflite/.onnx without a manifest)")
    bare.add_argument("--decoder", choices=["yolo", "ssd", "classification"], default=None, help="how to decode outputs")
    bare.add_argument("--labels", default=None, help="labels file (one per line) or comma-separated list")
    bare.add_argument("--input-size", type=parse_size, default=None, metavar="WxH", help="input size (dynamic models)")
    bare.add_argument("--layout", choices=["NHWC", "NCHW"], default=None, help="input layout (default: guessed)")
    bare.add_argument("--mean", type=parse_triple, default=None, metavar="M[,M,M]", help="subtracted per channel")
    bare.add_argument("--std", type=parse_triple, default=None, metavar="S[,S,S]", help="divisor per channel (255)")
    bare.add_argument("--color", choices=["RGB", "BGR"], default=None, help="channel order of the model (RGB)")
    bare.add_argument("--resize", choices=["letterbox", "stretch"], default=None, help="resize mode (letterbox)")
    bare.add_argument("--box-format", choices=["cxcywh", "xyxy", "yxyx"], default=None,
                      help="box format (yolo: cxcywh, ssd: yxyx)")
    bare.add_argument("--pixel-boxes", action="store_true", help="boxes are in input pixels, not 0..1")
    bare.add_argument("--objectness", action="store_true", help="yolo: an objectness column follows the box (v5)")
    bare.add_argument("--anchors", type=parse_anchors, default=None, metavar="W,H;W,H", help="ssd: anchor sizes")
    bare.add_argument("--strides", type=lambda v: tuple(int(x) for x in v.split(",")), default=None,
                      metavar="S[,S]", help="ssd: anchor grid strides")
    parser.set_defaults(func=_run_from_args)


def _run_from_args(args: argparse.Namespace) -> int:
    try:
        return run_infer(args, sys.stdout, sys.stderr)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def add_infer_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``infer`` to a CLI's subcommands; ``args.func(args)`` then returns the exit status."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "infer", help="run a model on image files (JSON lines)", description=DESCRIPTION
    )
    _configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_runtime.vision.infer_cli``: the same as ``siteguard infer``."""
    parser = argparse.ArgumentParser(prog="python -m edge_runtime.vision.infer_cli", description=DESCRIPTION)
    _configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

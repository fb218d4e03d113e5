"""Which inference back-ends this machine has, and which one should run a package.

**Discovery** (Frigate's detector plugins): every module of this package that
defines ``BACKEND`` - an :class:`InferenceBackend` subclass carrying its
``key`` and its pydantic ``config_model`` - is a back-end; adding one is adding
a file. Modules are found on first use, not at import; a plugin module imports
only numpy and pydantic, its runtime (ai_edge_litert, onnxruntime, tensorrt)
is imported inside ``capabilities()`` / ``load()``, which raise
:class:`BackendUnavailable` with the reason. A :class:`Registry` can also be
given its entries (key -> loader), which is how the tests add a back-end whose
import fails.

Optional plugin hooks, looked up by name so any InferenceBackend works:

- ``artifact_mismatch(artifact) -> str | None`` (classmethod): why this
  artifact cannot run here (a TensorRT engine built for another GPU);
- ``describe(path) -> ModelDescription`` (classmethod): the inputs and
  outputs of a bare model file, for ``siteguard infer`` without a manifest.

**Choice** is data-driven from :class:`Capabilities`. Every (back-end,
artifact) pair whose format the back-end runs is a candidate, ranked by:

1. ``ACCELERATOR_RANK[capabilities.accelerator]``: a TensorRT engine compiled
   for this GPU (fused kernels, fp16/int8 tensor cores) beats ONNX Runtime's
   CUDA/TensorRT providers (same GPU, generic kernels, per-op overhead), which
   beat XNNPACK-on-CPU (LiteRT), which beats ONNX Runtime on CPU (on ARM
   boards XNNPACK's NEON kernels are the fastest CPU path, on x86 the two are
   close and LiteRT is the smaller runtime);
2. whether the artifact is in the back-end's native format (its first
   declared format): a shipped engine beats building one from ONNX;
3. precision, in ``PRECISION_ORDER`` for the accelerator's class and the CPU
   architecture: int8 first on ARM (2-3x faster with XNNPACK's int8 kernels,
   a quarter of the memory traffic), float first on x86 (fast fp32 SIMD, no
   quantisation loss), fp16 first on a GPU.

``preferred`` overrides: ``"litert"``, ``"onnxruntime:fp32"``, ``"auto"``.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from edge_runtime.vision.backends.base import BackendError, BackendUnavailable, Capabilities, InferenceBackend
from models.package import Artifact, Manifest, ModelPackage, TensorSpec

log = logging.getLogger(__name__)

ACCELERATOR_RANK: dict[str, int] = {"tensorrt": 40, "cuda": 30, "xnnpack": 20, "cpu": 10}
PRECISION_ORDER: dict[str, tuple[str, ...]] = {
    "gpu": ("fp16", "int8", "fp32"),
    "arm": ("int8", "fp16", "fp32"),
    "x86": ("fp32", "fp16", "int8"),
}
GPU_ACCELERATORS = frozenset({"tensorrt", "cuda"})
NOT_PLUGINS = frozenset({"base", "registry", "engine_cache"})

Loader = Callable[[], type[InferenceBackend]]


def cpu_family(machine: str | None = None) -> str:
    """``"arm"`` or ``"x86"`` (anything else counts as x86: float first is the safe default)."""
    m = (machine or platform.machine()).lower()
    return "arm" if m.startswith(("arm", "aarch64")) else "x86"


# --------------------------------------------------------------------------- discovery


def _module_loader(module: str) -> Loader:
    def load() -> type[InferenceBackend]:
        return importlib.import_module(module).BACKEND

    return load


def discover() -> dict[str, Loader]:
    """Key -> loader for every plugin module of this package (imports only the plugin modules)."""
    package = importlib.import_module(__package__ or "edge_runtime.vision.backends")
    found: dict[str, Loader] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in NOT_PLUGINS or info.name.startswith("_"):
            continue
        name = f"{package.__name__}.{info.name}"
        try:
            cls = importlib.import_module(name).BACKEND
        except AttributeError:
            continue  # a helper module, not a plugin
        except Exception as exc:  # noqa: BLE001 - a broken plugin file must not take the others down
            log.warning("vision back-end module %s cannot be imported: %s", name, exc)
            found[info.name] = _module_loader(name)
            continue
        found[cls.key] = _module_loader(name)
    return found


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to run a package here, with the rank it got."""

    key: str
    artifact: Artifact
    capabilities: Capabilities
    rank: tuple[int, int, int]


class Registry:
    """Back-end plugins by key; availability is probed once and cached (``refresh()`` re-probes)."""

    def __init__(self, loaders: Mapping[str, Loader] | None = None, *, machine: str | None = None) -> None:
        self._loaders: dict[str, Loader] | None = dict(loaders) if loaders is not None else None
        self._machine = machine
        self._probed: dict[str, Capabilities | str] | None = None

    @property
    def loaders(self) -> dict[str, Loader]:
        if self._loaders is None:
            self._loaders = discover()
        return self._loaders

    def refresh(self) -> None:
        self._probed = None

    def backend_class(self, key: str) -> type[InferenceBackend]:
        loader = self.loaders.get(key)
        if loader is None:
            raise BackendError(f"unknown inference back-end {key!r} (known: {', '.join(sorted(self.loaders)) or 'none'})")
        try:
            return loader()
        except ImportError as exc:
            raise BackendUnavailable(f"{key}: {exc}") from exc

    def available_backends(self) -> dict[str, Capabilities | str]:
        """Key -> capabilities, or the reason it cannot run here."""
        if self._probed is None:
            probed: dict[str, Capabilities | str] = {}
            for key in sorted(self.loaders):
                try:
                    probed[key] = self.backend_class(key).capabilities()
                except BackendUnavailable as exc:
                    probed[key] = str(exc).removeprefix(f"{key}: ")
                except Exception as exc:  # noqa: BLE001 - a crashing probe is an unavailable back-end, not a dead camera
                    probed[key] = f"probe failed: {type(exc).__name__}: {exc}"
            self._probed = probed
        return dict(self._probed)

    def create_backend(self, key: str, config: BaseModel | Mapping[str, Any] | None = None) -> InferenceBackend:
        """An unloaded back-end with its config validated; BackendUnavailable when it cannot run here."""
        cls = self.backend_class(key)
        state = self.available_backends().get(key)
        if isinstance(state, str):
            raise BackendUnavailable(f"{key}: {state}")
        model: type[BaseModel] | None = getattr(cls, "config_model", None)
        if model is None:
            return cls()
        try:
            if config is None:
                cfg = model()
            elif isinstance(config, model):
                cfg = config
            elif isinstance(config, BaseModel):
                cfg = model.model_validate(config.model_dump(exclude_unset=True))
            else:
                cfg = model.model_validate(dict(config))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<root>"
            raise BackendError(f"{key} config: {where}: {first['msg']}") from None
        return cls(cfg)

    # -- choice

    def candidates(self, manifest: Manifest) -> tuple[list[Candidate], dict[str, str]]:
        """Every runnable (back-end, artifact), best first; and why each other back-end is out."""
        family = cpu_family(self._machine)
        out: list[Candidate] = []
        why: dict[str, str] = {}
        for key, caps in self.available_backends().items():
            if isinstance(caps, str):
                why[key] = caps
                continue
            cls = self.backend_class(key)
            mismatch = getattr(cls, "artifact_mismatch", None)
            order = PRECISION_ORDER["gpu" if caps.accelerator in GPU_ACCELERATORS else family]
            reasons = []
            for art in manifest.artifacts:
                if art.format not in caps.formats:
                    continue
                reason = mismatch(art) if mismatch is not None else None
                if reason:
                    reasons.append(f"{art.path}: {reason}")
                    continue
                precision = len(order) - order.index(art.precision) if art.precision in order else 0
                rank = (ACCELERATOR_RANK.get(caps.accelerator, 0), int(art.format == caps.formats[0]), precision)
                out.append(Candidate(key, art, caps, rank))
            if not any(c.key == key for c in out):
                offered = sorted({a.format for a in manifest.artifacts})
                why[key] = "; ".join(reasons) or f"runs {'/'.join(caps.formats)}, the package has {'/'.join(offered)}"
        out.sort(key=lambda c: c.rank, reverse=True)  # stable: equal ranks keep manifest order
        return out, why

    def choose(self, package: ModelPackage | Manifest, preferred: str = "auto") -> tuple[str, Artifact]:
        """``(backend_key, artifact)`` to run ``package`` with; ``preferred`` is ``auto``, ``KEY`` or ``KEY:PRECISION``."""
        manifest = package.manifest if isinstance(package, ModelPackage) else package
        key, _, precision = (preferred or "auto").partition(":")
        ranked, why = self.candidates(manifest)
        if key != "auto":
            self.backend_class(key)  # unknown key -> BackendError naming the known ones
            state = self.available_backends().get(key)
            if isinstance(state, str):
                raise BackendUnavailable(f"{key}: {state}")
            ranked = [c for c in ranked if c.key == key]
            if not ranked:
                raise BackendError(f"{manifest.name}: back-end {key} cannot run this package: {why.get(key, 'no artifact')}")
        if precision:
            ranked = [c for c in ranked if c.artifact.precision == precision]
            if not ranked:
                offered = ", ".join(f"{a.format}/{a.precision}" for a in manifest.artifacts)
                raise BackendError(f"{manifest.name}: no {precision} artifact for {key} (package has {offered})")
        if not ranked:
            reasons = "; ".join(f"{k}: {r}" for k, r in sorted(why.items())) or "no back-end modules found"
            raise BackendUnavailable(f"{manifest.name}: no back-end here can run this package ({reasons})")
        best = ranked[0]
        return best.key, best.artifact

    def describe(self, path: str | Path, preferred: str = "auto") -> ModelDescription:
        """Inputs and outputs of a bare model file, read by a back-end that runs its format.

        Any available back-end that reads the format will do (the preferred one
        first): describing a model is not running it.
        """
        path = Path(path)
        fmt = FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if fmt is None:
            raise BackendError(f"{path}: unknown model file type {path.suffix!r} (known: {', '.join(FORMAT_OF_SUFFIX)})")
        available = self.available_backends()
        keys = sorted(available, key=lambda k: k != preferred)
        tried = []
        for key in keys:
            caps = available[key]
            if isinstance(caps, str):
                tried.append(f"{key}: {caps}")
                continue
            describe = getattr(self.backend_class(key), "describe", None)
            if fmt in caps.formats and describe is not None:
                return describe(path)
            tried.append(f"{key}: runs {'/'.join(caps.formats)}")
        raise BackendUnavailable(f"{path}: no back-end here reads {fmt} models ({'; '.join(tried)})")


FORMAT_OF_SUFFIX = {".tflite": "tflite", ".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt"}

_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry()
    return _default


def available_backends() -> dict[str, Capabilities | str]:
    """Key -> Capabilities for each back-end that can run here, or the reason it cannot."""
    return default_registry().available_backends()


def create_backend(key: str, config: BaseModel | Mapping[str, Any] | None = None) -> InferenceBackend:
    return default_registry().create_backend(key, config)


def choose(package: ModelPackage | Manifest, preferred: str = "auto") -> tuple[str, Artifact]:
    return default_registry().choose(package, preferred)


# --------------------------------------------------------------------------- helpers the plugins share


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """A model file's own view of its tensors (for manifests synthesised from bare files)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    quantization: dict[str, tuple[float, int]]  # tensor name -> (scale, zero_point), quantised tensors only


SPEC_DTYPES = frozenset({"float32", "float16", "int8", "uint8", "int32", "int64"})


def spec_dtype(dtype: Any) -> str:
    """A numpy dtype as a manifest dtype (types the manifest cannot name read as float32 outputs)."""
    name = np.dtype(dtype).name
    return name if name in SPEC_DTYPES else "float32"


def shape_matches(expected: Sequence[int], actual: Sequence[Any]) -> bool:
    """Equal rank and equal dimensions, where -1 (or a runtime's None/symbolic name) matches anything."""
    if len(expected) != len(actual):
        return False
    return all(e == -1 or not isinstance(a, int | np.integer) or a < 0 or e == a for e, a in zip(expected, actual))


def check_input(spec: TensorSpec, shape: Sequence[Any], dtype: str, quantization: tuple[float, int] | None) -> None:
    """Raise BackendError unless the model's input can take what the manifest describes."""
    if not shape_matches(spec.shape, shape):
        raise BackendError(f"model input {tuple(shape)} does not match the manifest's {spec.name} {spec.shape}")
    if dtype == spec.dtype:
        return
    if dtype in ("int8", "uint8") and spec.dtype in ("float32", "float16") and quantization and quantization[0] > 0:
        return  # quantised model: the back-end quantises the float input
    if {dtype, spec.dtype} <= {"float32", "float16"}:
        return  # cast
    raise BackendError(
        f"model input dtype {dtype} does not match the manifest's {spec.dtype}"
        + (" and the model gives no quantisation scale" if dtype in ("int8", "uint8") else "")
    )


def order_outputs(specs: Sequence[TensorSpec], names: Sequence[str], shapes: Sequence[Sequence[Any]]) -> list[int]:
    """Runtime output indices in manifest order: by name, else by unique shape, else as the runtime lists them."""
    if len(specs) != len(names):
        raise BackendError(f"the model has {len(names)} outputs, the manifest lists {len(specs)}")
    if all(s.name in names for s in specs):
        order = [list(names).index(s.name) for s in specs]
    else:
        order = []
        for s in specs:
            fits = [i for i, shape in enumerate(shapes) if shape_matches(s.shape, shape) and i not in order]
            if len(fits) != 1 or sum(shape_matches(s.shape, sh) for sh in shapes) != 1:
                order = list(range(len(specs)))  # names and shapes do not decide: the runtime's order
                break
            order.append(fits[0])
    for s, i in zip(specs, order):
        if not shape_matches(s.shape, shapes[i]):
            raise BackendError(f"model output {names[i]!r} {tuple(shapes[i])} does not match the manifest's {s.name} {s.shape}")
    return order


@dataclass(frozen=True, slots=True)
class Quantizer:
    """float <-> int8/uint8 with an affine (scale, zero_point): ``real = (q - zero_point) * scale``."""

    scale: float
    zero_point: int
    dtype: np.dtype

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.rint(np.asarray(x, np.float32) * np.float32(1.0 / self.scale))
        q += self.zero_point
        return np.clip(q, info.min, info.max, out=q).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        out = np.asarray(q).astype(np.float32)
        out -= self.zero_point
        out *= np.float32(self.scale)
        return out


def quantizer_for(
    name: str, dtype: np.dtype, own: tuple[float, int] | None, artifact: Artifact
) -> Quantizer | None:
    """The tensor's quantisation: the model's own parameters, else the artifact's manifest entry."""
    if np.dtype(dtype).kind not in "iu" or np.dtype(dtype).itemsize != 1:
        return None
    scale, zp = own if own and own[0] > 0 else artifact.quantization.get(name, (0.0, 0))
    return Quantizer(float(scale), int(zp), np.dtype(dtype)) if scale > 0 else None

"""The build: one trained model in, every artifact its target profiles run out, each checked or refused.

For the profiles asked: ONNX always; TFLite fp32 and int8 (int8 calibrated on
training data) when a Raspberry Pi profile is among them; a TensorRT engine
for each Jetson profile whose GPU and TensorRT this machine has, when the
family's models run on the GPU at all (the camera detector does; the risk
model runs ONNX on the Jetson's CPU). Each artifact is measured on the
held-out set against the float model (:func:`.check.check`); a refused one is
deleted and recorded with its reason, and the others still ship.

A model family plugs in as a :class:`Family`: how to export each format,
how to run an artifact on the held-out set, what the float model scored.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from models.package import Artifact, ArtifactCheck, sha256_file

from .check import Evaluation, check
from .targets import BuildTarget, Precision
from .tensorrt import EngineBuildError, LocalGpu, build_engine, builder_for

log = logging.getLogger(__name__)
Format = Literal["onnx", "tflite", "tensorrt"]


class BuildFailed(RuntimeError):
    """An artifact that cannot be made (no form in that format, a converter's error); the message says why."""


class BuildRefused(ValueError):
    """A build that left some profile with nothing it can run: ``uncovered`` is profile -> the refusals' reasons."""

    def __init__(self, uncovered: dict[str, list[str]]) -> None:
        self.uncovered = uncovered
        super().__init__("; ".join(f"profile {name}: {' / '.join(reasons) or 'no artifact it runs was asked for'}"
                                   for name, reasons in sorted(uncovered.items())))


@dataclass(frozen=True, slots=True)
class Exported:
    path: Path
    quantization: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Measured:
    """An artifact on the held-out set: its accuracy, and how far its outputs are from the float model's."""

    evaluation: Evaluation
    deviation: float
    problem: str | None  # why the outputs are beyond the family's tolerance, None when within


class Family(Protocol):
    """What a model family gives the build."""

    engines: bool
    """Whether Jetson profiles run this family on the GPU (a TensorRT engine), or ONNX on the CPU."""

    def filename(self, fmt: Format, precision: Precision) -> str: ...

    def export(self, fmt: Literal["onnx", "tflite"], precision: Precision, path: Path) -> Exported:
        """Write the artifact (raises :class:`BuildFailed`)."""
        ...

    def reference(self) -> Evaluation:
        """The float model on the held-out set."""
        ...

    def measure(self, path: Path, fmt: Format, precision: Precision, target: str) -> Measured:
        """The artifact at ``path`` in the runtime a device of ``target`` uses (raises :class:`BuildFailed`)."""
        ...

    def engine_input(self) -> tuple[tuple[int, ...], np.ndarray]:
        """The static input shape an engine is built for, and int8 calibration tensors of that shape."""
        ...


@dataclass(frozen=True, slots=True)
class Refused:
    """An artifact left out, and why."""

    path: str
    format: str
    precision: str
    target: str
    reason: str
    stage: Literal["export", "run", "check"]
    check: ArtifactCheck | None = None  # the numbers, when it ran


@dataclass(slots=True)
class BuildReport:
    targets: tuple[BuildTarget, ...]
    built: list[tuple[Artifact, ArtifactCheck]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    device_builds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def artifacts(self) -> tuple[Artifact, ...]:
        return tuple(a for a, _ in self.built)

    def checks(self) -> dict[str, ArtifactCheck]:
        return {a.path: c for a, c in self.built}

    def uncovered(self) -> dict[str, list[Refused]]:
        """Profiles left with no artifact they can run -> their artifacts' refusals."""
        out: dict[str, list[Refused]] = {}
        for target in self.targets:
            if not any(target.runs(a.format) for a in self.artifacts()):
                out[target.name] = [r for r in self.refused if target.runs(r.format)]
        return out

    def require_every_profile(self) -> None:
        """Raise :class:`BuildRefused` when some profile has nothing it can run."""
        if uncovered := self.uncovered():
            raise BuildRefused({name: [r.reason for r in refused] for name, refused in uncovered.items()})

    def as_metrics(self) -> dict[str, object]:
        """For the job's metrics: every artifact's numbers, shipped or refused, and the device builds."""
        return {
            "built": {a.path: {"format": a.format, "precision": a.precision, "target": a.target, **c.model_dump()}
                      for a, c in self.built},
            "refused": {r.path: {"format": r.format, "precision": r.precision, "target": r.target, "reason": r.reason,
                                 "stage": r.stage, **(r.check.model_dump() if r.check else {})} for r in self.refused},
            "device_builds": list(self.device_builds), "notes": list(self.notes),
        }


def build(family: Family, targets: Sequence[BuildTarget], out: Path, *, margin: float, int8: bool = True) -> BuildReport:
    """Export, measure and check every artifact ``targets`` need into ``out`` (see the module docstring).

    ``int8=False`` leaves the int8 TFLite out (no calibration data at hand).
    """
    if not targets:
        raise ValueError("no target profiles: a build is for at least one")
    report = BuildReport(tuple(targets))
    reference = family.reference()
    onnx_users = sorted(t.name for t in targets if t.runs("onnx")) or ["cpu"]
    onnx = _one(family, report, reference, "onnx", "fp32", ",".join(onnx_users), out, margin)
    pis = sorted(t.name for t in targets if t.tflite)
    for precision in (("fp32", "int8") if int8 else ("fp32",)) if pis else ():
        _one(family, report, reference, "tflite", precision, ",".join(pis), out, margin)  # type: ignore[arg-type]
    for target in targets:
        if target.gpu is not None and family.engines:
            _engine(family, report, reference, target, onnx, out, margin)
    return report


def _one(family: Family, report: BuildReport, reference: Evaluation, fmt: Literal["onnx", "tflite"],
         precision: Precision, target: str, out: Path, margin: float) -> Artifact | None:
    path = out / family.filename(fmt, precision)
    try:
        exported = family.export(fmt, precision, path)
    except BuildFailed as exc:
        path.unlink(missing_ok=True)
        report.refused.append(Refused(path.name, fmt, precision, target, f"{path.name}: not built: {exc}", "export"))
        return None
    return _checked(family, report, reference, exported, fmt, precision, target, out, margin)


def _checked(family: Family, report: BuildReport, reference: Evaluation, exported: Exported, fmt: Format,
             precision: Precision, target: str, out: Path, margin: float) -> Artifact | None:
    path = exported.path
    name = path.relative_to(out).as_posix()
    try:
        measured = family.measure(path, fmt, precision, target)
    except BuildFailed as exc:
        path.unlink(missing_ok=True)
        report.refused.append(Refused(name, fmt, precision, target, f"{name}: does not run: {exc}", "run"))
        return None
    numbers, reason = check(name, measured.evaluation, reference, measured.deviation, measured.problem, margin)
    if reason is not None:
        path.unlink(missing_ok=True)
        report.refused.append(Refused(name, fmt, precision, target, reason, "check", numbers))
        log.warning("build refused %s", reason)
        return None
    artifact = Artifact(path=name, format=fmt, precision=precision, target=target, sha256=sha256_file(path),
                        quantization=exported.quantization)
    report.built.append((artifact, numbers))
    return artifact


def _engine(family: Family, report: BuildReport, reference: Evaluation, target: BuildTarget, onnx: Artifact | None,
            out: Path, margin: float) -> None:
    gpu = target.gpu
    assert gpu is not None  # build() passes GPU targets only
    local = builder_for(gpu)
    if onnx is None:
        report.notes.append(f"{target.name}: no engine: the ONNX artifact it is built from was refused")
        return
    if not isinstance(local, LocalGpu):
        report.device_builds.append(target.name)
        report.notes.append(f"{target.name}: the device builds its {gpu.precision} engine from "
                            f"{onnx.path} and caches it ({local})")
        return
    tag = gpu.tag(target.name)
    path = out / family.filename("tensorrt", gpu.precision).replace(".engine", f"-{tag}.engine")
    shape, calibration = family.engine_input()
    try:
        path.write_bytes(build_engine((out / onnx.path).read_bytes(), shape, gpu.precision,
                                      calibration=calibration if gpu.precision == "int8" else None))
    except EngineBuildError as exc:
        report.refused.append(Refused(path.name, "tensorrt", gpu.precision, tag, f"{path.name}: not built: {exc}",
                                      "export"))
        return
    _checked(family, report, reference, Exported(path), "tensorrt", gpu.precision, tag, out, margin)

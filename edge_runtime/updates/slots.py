"""The seam between the update agent and the places models run on the device.

The agent (download, verify, state, rollback decisions) knows nothing of
cameras or alarms; each place a model runs implements :class:`ModelSlot`:
the camera supervisor's (``camera``: the detector every camera runs) and the
risk scorer's (``risk``). A slot never lets a candidate touch the alarm path
before :meth:`ModelSlot.activate` succeeded: a failed load or shadow run
leaves the active model serving.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cloud_sync.contract.rollout import ModelRef, Performance, ShadowSummary
from models.package import Manifest


class SlotError(RuntimeError):
    """The candidate cannot run here (load failure, bad outputs, incompatible); the active model is untouched."""


@dataclass(frozen=True, slots=True)
class Health:
    """The active model's health since ``since_ts`` (its switch-in): ``problem`` says why it must be undone."""

    problem: str | None = None
    crashes: int = 0
    inference_p95_ms: float | None = None
    details: dict[str, float] = field(default_factory=dict)


class ModelSlot(Protocol):
    """One place a model runs. Every method is called from the daemon's event loop."""

    slot: str  # "camera" | "risk"

    def active(self) -> ModelRef | None:
        """The running model (sha256: of the running artifact), or None before one loaded."""

    def active_package(self) -> Path | None:
        """The package directory of the running model (the agent keeps it as the previous version)."""

    def input_mismatch(self, manifest: Manifest) -> str | None:
        """Why this slot cannot feed a model with this manifest (task, input shape, features), or None when it can.

        Checked before any shadow run, so an incompatible package is refused without being loaded."""

    async def shadow(self, package: Path, duration_s: float, *, latency_budget_ms: float | None = None
                     ) -> ShadowSummary:
        """Run ``package`` beside the active model for ``duration_s`` on live data, on spare cycles only
        (a candidate slower than ``latency_budget_ms`` at p95 is a regression).

        Returns the comparison (``regression`` set when the candidate is worse); raises
        :class:`SlotError` when the candidate does not load or crashes.
        """

    async def activate(self, package: Path) -> ModelRef:
        """Switch to ``package`` atomically (between two frames or two scores); raises :class:`SlotError`
        with the old model still running when the new one cannot load."""

    def health(self, since_ts: float, latency_budget_ms: float | None) -> Health:
        """Crashes, crash loops and latency of the active model since ``since_ts``."""

    def performance(self) -> Performance:
        """How the active model performs since it was switched in (reported to the cloud)."""

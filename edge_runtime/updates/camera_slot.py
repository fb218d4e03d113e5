"""The camera slot: the detector every camera of the device runs, as the update agent sees it.

A thin policy layer over :class:`~edge_runtime.vision.supervisor.VisionSupervisor`,
which does the mechanics (shadow runs in the workers, hot swaps, immediate
restarts on a package). What this layer adds:

- the switch is all or nothing: when any camera does not take the package,
  the cameras that did are switched back before :class:`SlotError` is raised;
- the health rule: a model fails its watch when a camera could not load it,
  when a camera's worker exited ``crash_loop_exits`` times since the switch
  (a stall kill is an exit too), or when a camera's inference p95 over at least
  ``min_samples`` frames exceeds the latency budget;
- performance since the switch, with alarm counts from ``alarm_counts`` when
  the daemon passes one (the vision layer does not know which alarms a camera
  model raised, nor their verdicts).

The daemon builds it over its running supervisor, with the same wall clock
the workers stamp frames with: ``CameraSlot(daemon.vision)``.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cloud_sync.contract.rollout import ModelRef, Performance, ShadowSummary
from edge_runtime.vision.preprocess import input_size
from edge_runtime.vision.shadow import ShadowFailed, ShadowRule
from edge_runtime.vision.supervisor import VisionSupervisor
from models.package import Manifest

from .slots import Health, SlotError


class AlarmCounts(NamedTuple):
    """Camera alarms raised since a time, and the supervisors' verdicts on them."""

    alarms: int
    confirmed: int
    false: int


class CameraSlot:
    """:class:`~edge_runtime.updates.slots.ModelSlot` for the cameras; see the module docstring."""

    slot = "camera"

    def __init__(
        self,
        supervisor: VisionSupervisor,
        *,
        rule: ShadowRule = ShadowRule(),
        required_labels: tuple[str, ...] = ("person",),
        shadow_rate: float = 5.0,
        switch_timeout_s: float = 60.0,
        crash_loop_exits: int = 2,
        min_samples: int = 10,
        alarm_counts: Callable[[float], AlarmCounts] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._vision = supervisor
        self._rule = rule
        self._required_labels = required_labels
        self._shadow_rate = shadow_rate
        self._switch_timeout_s = switch_timeout_s
        self._crash_loop_exits = crash_loop_exits
        self._min_samples = min_samples
        self._alarm_counts = alarm_counts
        self._clock = clock
        self._since = clock()  # the model the daemon started with counts as switched in at start
        self._frames_at: dict[str, int] = {}

    # -- what runs

    def active(self) -> ModelRef | None:
        """The model most cameras run (all of them, outside a switch)."""
        seen = Counter((w.lineage["model"], w.lineage["version"], w.lineage["sha256"])
                       for w in map(self._vision.watch, self._vision.cameras()) if w.lineage)
        if not seen:
            return None
        name, version, sha256 = seen.most_common(1)[0][0]
        return ModelRef(name=name, version=version, sha256=sha256)

    def active_package(self) -> Path | None:
        paths = Counter(self._vision.watch(c).model for c in self._vision.cameras())
        return paths.most_common(1)[0][0] if paths else None

    # -- updates

    def input_mismatch(self, manifest: Manifest) -> str | None:
        """A camera model is a detector over one image tensor (frames are letterboxed to its size) with the
        labels the camera rules need (``required_labels``)."""
        if manifest.task != "detection" or manifest.decoder is None:
            return f"a {manifest.task} model{'' if manifest.decoder else ' without a decoder'}: the cameras run detectors"
        if len(manifest.inputs) != 1:
            return f"{len(manifest.inputs)} inputs: a camera model takes one image"
        try:
            input_size(manifest.inputs[0], manifest.preprocessing.layout)
        except ValueError as exc:
            return str(exc)
        missing = [label for label in self._required_labels if label not in manifest.labels]
        return f"no {', '.join(missing)} label: the camera rules need it" if missing else None

    async def shadow(self, package: Path, duration_s: float, *, latency_budget_ms: float | None = None) -> ShadowSummary:
        """The candidate beside the active model on every camera; ``latency_budget_ms`` overrides the rule's."""
        rule = self._rule if latency_budget_ms is None else replace(self._rule, latency_budget_ms=latency_budget_ms)
        try:
            return await self._vision.shadow(Path(package), duration_s, rule=rule, max_rate=self._shadow_rate)
        except ShadowFailed as exc:
            raise SlotError(f"the candidate failed its shadow run: {exc}") from None

    async def activate(self, package: Path) -> ModelRef:
        """Every camera to ``package``, or none: see the module docstring. Also the rollback: a camera
        whose worker is down or crash-looping is restarted on ``package`` at once."""
        cameras = self._vision.cameras()
        if not cameras:
            raise SlotError("no camera is configured")
        previous = {c: self._vision.watch(c).model for c in cameras}
        outcome = await self._vision.switch(Path(package), self._switch_timeout_s)
        failed = {c: why for c, why in outcome.items() if isinstance(why, str)}
        if failed:
            back = {c: previous[c] for c in outcome if c not in failed and previous[c] != Path(package)}
            undone = await self._vision.switch(back, self._switch_timeout_s) if back else {}
            stuck = sorted(c for c, r in undone.items() if isinstance(r, str))
            why = "; ".join(f"camera {c}: {w}" for c, w in sorted(failed.items()))
            raise SlotError(f"{why} (every camera kept its model" +
                            (f", except {', '.join(stuck)}, which could not be switched back)" if stuck else ")"))
        self._since = self._clock()
        self._frames_at = {c: self._vision.watch(c).frames for c in cameras}
        lineage = next(iter(outcome.values()))
        assert isinstance(lineage, dict)
        return ModelRef(name=lineage["model"], version=lineage["version"], sha256=lineage["sha256"])

    # -- watch

    def health(self, since_ts: float, latency_budget_ms: float | None) -> Health:
        problems: list[str] = []
        details: dict[str, float] = {}
        crashes = 0
        every: list[float] = []
        for cam in self._vision.cameras():
            w = self._vision.watch(cam)
            exits = [e for e in w.exits if e[0] >= since_ts]
            loads = [f for f in w.load_failures if f[0] >= since_ts and f[1] == w.model]
            samples = [ms for ts, ms in w.samples if ts >= since_ts]
            crashes += len(exits)
            every += samples
            details[f"{cam}.exits"] = len(exits)
            details[f"{cam}.stalls"] = sum(ts >= since_ts for ts in w.stalls)
            if loads:
                problems.append(f"camera {cam}: the model does not load: {loads[-1][2]}")
            elif len(exits) >= self._crash_loop_exits:
                problems.append(f"camera {cam}: crash loop, the worker exited {len(exits)} times since the switch "
                                f"(last: {exits[-1][2]})")
            if len(samples) >= self._min_samples:
                p95 = float(np.percentile(samples, 95))
                details[f"{cam}.inference_p95_ms"] = p95
                if latency_budget_ms is not None and p95 > latency_budget_ms:
                    problems.append(f"camera {cam}: inference p95 {p95:.1f} ms over the budget of "
                                    f"{latency_budget_ms:g} ms ({len(samples)} frames)")
        p95_all = float(np.percentile(every, 95)) if len(every) >= self._min_samples else None
        return Health("; ".join(problems) or None, crashes, p95_all, details)

    def performance(self) -> Performance:
        """Since the last switch (or the start): inference percentiles over the frames still kept, the
        count of every frame, and alarm counts where the daemon passed ``alarm_counts``."""
        since = self._since
        samples = [ms for c in self._vision.cameras() for ts, ms in self._vision.watch(c).samples if ts >= since]
        inferences = sum(max(0, self._vision.watch(c).frames - self._frames_at.get(c, 0)) for c in self._vision.cameras())
        perf = Performance(
            inference_p50_ms=float(np.percentile(samples, 50)) if samples else None,
            inference_p95_ms=float(np.percentile(samples, 95)) if samples else None,
            inferences=inferences,
        )
        if self._alarm_counts is None:
            return perf
        counts = self._alarm_counts(since)
        hours = max(self._clock() - since, 1.0) / 3600.0
        judged = counts.confirmed + counts.false
        return perf.model_copy(update={
            "alarms": counts.alarms, "alarms_per_h": counts.alarms / hours, "confirmed": counts.confirmed,
            "false": counts.false, "precision": counts.confirmed / judged if judged else None,
        })

"""The end of a training run with a ``rollout`` option: its new candidate goes to the fleet's canaries.

The rollout engine (cloud_sync.rollout) takes it from there: canaries
shadow-run and switch, promotion follows their healthy period and confirmed
alarms, the first device that rolls back halts it. Where no device matches,
or a rollout of the slot is still live, the run still succeeds (its candidate
is registered and aliased) and says why nothing was rolled out, in its log
and its metrics: an admin rolls it out by hand.
"""
from __future__ import annotations

from cloud_sync.model_registry import ModelRegistry
from cloud_sync.registry.devices import DeviceRegistry
from cloud_sync.registry.errors import Conflict, NotFound
from cloud_sync.rollout.records import RolloutIn, RolloutPlan
from cloud_sync.rollout.service import RolloutService
from cloud_sync.training.context import RunContext


def start_rollout(ctx: RunContext, registry: ModelRegistry, slot: str, plan: RolloutPlan) -> None:
    """Start ``plan`` for the version the run registered in ``registry`` (``ctx.result``'s ``model`` and
    ``version``), through the rollout engine the service runs."""
    name, version = ctx.result["model"], ctx.result["version"]
    rollouts = RolloutService.build(ctx.engine, DeviceRegistry(ctx.engine), registry, clock=ctx.clock)
    spec = RolloutIn(slot=slot, model=name, version=version, **plan.model_dump())  # type: ignore[arg-type]
    try:
        rollout = rollouts.store.create(spec, by=f"training job {ctx.job_id}")
    except (Conflict, NotFound) as exc:
        ctx.metrics["rollout"] = {"error": str(exc)}
        ctx.log(f"not rolled out: {exc}", "warning")
        return
    canaries = [d.device_id for d in rollout.devices if d.stage == "canary"]
    ctx.result.update(rollout=rollout.id)
    ctx.metrics["rollout"] = {"id": rollout.id, "targets": len(rollout.devices), "canaries": canaries,
                              "baseline": rollout.baseline_version}
    ctx.log(f"rollout {rollout.id}: {name} {version} to canaries {', '.join(canaries)}")

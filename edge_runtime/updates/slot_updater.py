"""One slot's way from a desired version to a watched, active model, and back when it misbehaves.

One job at a time per slot: an *install* (download, verify, check, shadow,
switch) then its *watch*. A refusal at any step leaves the active model
serving and records why (the package is skipped while the desired state
still names it). The switch is committed to SQLite before the slot loads the
new model, so a daemon that dies while loading it counts that start against
the new model (see the agent's boot check). During the watch the slot's
health is read about once a second and the first signal rolls back at once,
without the cloud.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_sync.contract.rollout import DesiredModel, EventKind, ModelRef, ShadowSummary, UpdateEvent
from edge_runtime.config.updates import UpdateSettings
from models.package import PackageError

from . import compat, verify
from .download import Downloader, DownloadError
from .slots import ModelSlot, SlotError
from .state import Install, SlotRecord, UpdateState
from .threads import Worker
from .watch import HealthWatch

log = logging.getLogger(__name__)

REASON_CHARS = 2000  # UpdateEvent.reason's bound
KEPT = ("installed", "previous")  # installs whose directory is still on the device, verified once already


@dataclass(frozen=True)
class Deps:
    """What every slot's updater shares."""

    settings: UpdateSettings
    state: UpdateState
    db: Worker  # SQLite statements
    files: Worker  # downloads, hashing, unpacking
    downloader: Downloader
    trusted_keys: dict[str, bytes]
    models_dir: Path
    clock: Callable[[], float]
    on_event: Callable[[UpdateEvent], None]  # the reporter sends soon: a rollback halts the rollout fleet-wide


BOOT_GRACE_S = 60.0
"""How long after start a slot still loading its boot model is left to it before a desired version replaces it
(a boot model that never loads is replaced then: the cloud's version may be the fix)."""


class Refusal(Exception):
    """A step refused the candidate: the event kind and why."""

    def __init__(self, kind: EventKind, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class SlotUpdater:
    def __init__(self, slot: ModelSlot, deps: Deps) -> None:
        self.slot = slot
        self.name = slot.slot
        self._deps = deps
        self.record = SlotRecord(self.name)  # as last committed
        self.target: DesiredModel | None = None  # being installed
        self.shadow: ShadowSummary | None = None  # the last shadow run's
        self._task: asyncio.Task[None] | None = None
        self._watching = False
        self._boot_until = deps.clock() + BOOT_GRACE_S

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def load(self) -> SlotRecord:
        self.record = await self._deps.db.run(self._deps.state.slot, self.name)
        return self.record

    def consider(self, desired: DesiredModel | None, halted: set[str]) -> None:
        """The poller's latest word for this slot: start an install, leave one running, or cancel it."""
        if self.busy:
            if self._watching or self.target is None:
                return  # a watch runs to its end (or rolls back): the cloud's next word waits for it
            if desired is None or desired.package_sha256 != self.target.package_sha256 or _halted(desired, halted):
                log.warning("install cancelled: the desired state changed", extra={"slot": self.name})
                assert self._task is not None
                self._task.cancel()
            return
        if desired is None or _halted(desired, halted) or desired.package_sha256 == self.record.refused_sha256:
            return
        running = self.slot.active()
        active = self.record.active
        if (active is not None and active.package_sha256 == desired.package_sha256) or (
                running is not None and (running.name, running.version) == (desired.name, desired.version)):
            return
        if running is None and self.slot.active_package() is not None and self._deps.clock() < self._boot_until:
            return  # the slot still loads its boot model: it may be the desired version already
        self._start(self._install(desired))

    def resume_watch(self) -> None:
        """After a start: go on watching a model the run before switched in (for what is left of its watch)."""
        if self.record.state == "watching" and self.record.watch_until is not None and not self.busy:
            self._start(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _start(self, job: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(job, name=f"updates-{self.name}")
        self._task.add_done_callback(_log_failure)

    # ---- install ------------------------------------------------------------
    async def _install(self, model: DesiredModel) -> None:
        self.target, self.shadow = model, None
        ref = ModelRef(name=model.name, version=model.version)
        try:
            install, ref = await self._prepare(model, ref)
            await self._shadow(model, install, ref)
            await self._switch(model, install, ref)
        except Refusal as refusal:
            await self._refuse(model, ref, refusal)
        except DownloadError as exc:
            if not exc.retry:
                await self._refuse(model, ref, Refusal("refused", exc.reason))
            else:  # the next poll tries again from the partial file
                log.warning("package download failed; the next poll retries", extra={"slot": self.name,
                                                                                    "reason": exc.reason})
                await self._set_state("idle")
        except asyncio.CancelledError:
            await asyncio.shield(self._set_state("idle"))
            raise
        except Exception:  # a bug or a failing disk: the active model is untouched; the next poll tries again
            log.exception("install failed", extra={"slot": self.name, "version": model.version})
            self._watching = False
            await self._set_state("idle")
        finally:
            self.target = None
        if self._watching:
            await self._watch()

    async def _prepare(self, model: DesiredModel, ref: ModelRef) -> tuple[Install, ModelRef]:
        """Downloaded, unpacked, verified and checked: the install and its ModelRef (with the artifact sha256)."""
        deps = self._deps
        if model.package_bytes > deps.settings.max_package_bytes:
            raise Refusal("refused", f"package of {model.package_bytes} bytes, more than the "
                          f"{deps.settings.max_package_bytes} allowed")
        final = verify.package_dir(deps.models_dir / self.name, model.version, model.package_sha256)
        kept = await deps.db.run(deps.state.install, self.name, model.package_sha256)
        try:
            if kept is not None and kept.path == final and kept.state in KEPT and await deps.files.run(final.is_dir):
                await self._set_state("verifying")  # still on the device (the previous version): verify again only
                package = await deps.files.run(verify.open_package, final, deps.trusted_keys)
            else:
                await self._set_state("downloading")
                archive = await deps.downloader.fetch(model)
                await self._set_state("verifying")
                try:
                    package = await deps.files.run(verify.unpack, archive, final, deps.trusted_keys,
                                                   deps.settings.max_package_bytes)
                finally:
                    await deps.files.run(deps.downloader.forget, model)
        except PackageError as exc:
            raise Refusal("refused", f"package refused: {_relative(str(exc), deps.models_dir)}") from None
        manifest = package.manifest
        if (manifest.name, manifest.version) != (model.name, model.version):
            await deps.files.run(verify.remove, final, deps.models_dir)
            raise Refusal("refused", f"the package is {manifest.name} {manifest.version}, the desired state names "
                          f"{model.name} {model.version}")
        try:
            artifact = await deps.files.run(compat.check, package, model.artifact, deps.settings.memory_headroom_mb)
            if problem := self.slot.input_mismatch(manifest):
                raise compat.Incompatible(problem)
        except compat.Incompatible as exc:
            await deps.files.run(verify.remove, final, deps.models_dir)
            raise Refusal("refused", f"incompatible: {exc}") from None
        ref = ModelRef(name=model.name, version=model.version, sha256=artifact.sha256)
        install = await deps.db.run(deps.state.installed, self.name, ref, model.package_sha256, final,
                                    model.rollout_id, deps.clock())
        await self._event("downloaded", ref, model.rollout_id, None)
        return install, ref

    async def _shadow(self, model: DesiredModel, install: Install, ref: ModelRef) -> None:
        duration = min(model.shadow_s, self._deps.settings.max_shadow_s)
        if duration <= 0 or self.slot.active() is None:
            return  # nothing to compare with: the switch and the watch decide
        await self._set_state("shadow")
        assert install.path is not None
        try:
            budget = model.latency_budget_ms or self._deps.settings.rollback.latency_budget_ms
            self.shadow = await self.slot.shadow(install.path, duration, latency_budget_ms=budget)
        except SlotError as exc:
            await self._retire(install)
            raise Refusal("shadow_failed", f"the candidate failed in the shadow run: {exc}") from None
        if self.shadow.regression:
            await self._retire(install)
            raise Refusal("shadow_failed", f"regression in the shadow run: {self.shadow.regression}")
        await self._event("shadow_passed", ref, model.rollout_id, None)

    async def _switch(self, model: DesiredModel, install: Install, ref: ModelRef) -> None:
        deps = self._deps
        record = await self.load()
        if record.active is None and (running := self.slot.active()) is not None and (
                path := self.slot.active_package()) is not None:
            await deps.db.run(deps.state.adopt, self.name, running, path, deps.clock())  # the site file's model
        self._watching = True  # from the commit on, the poller no longer cancels this job
        now = deps.clock()
        watch_s = deps.settings.rollback.watch_s if deps.settings.rollback.watch_s is not None else model.watch_s
        budget = model.latency_budget_ms or deps.settings.rollback.latency_budget_ms
        stale = await deps.db.run(deps.state.switched, self.name, install, now, now + watch_s, budget)
        assert install.path is not None
        try:
            activated = await self.slot.activate(install.path)
        except SlotError as exc:
            self._watching = False
            await self._undo("refused", ref, model.rollout_id, f"the new model did not load: {exc}")
            return
        await self.load()
        await self._event("activated", activated, model.rollout_id, None)
        for old in stale:
            await self._retire(old)
        log.warning("model switched in; watching it", extra={"slot": self.name, "version": model.version,
                                                             "watch_s": watch_s})

    # ---- watch and rollback ----------------------------------------------------
    async def _watch(self) -> None:
        """Until the watch ends (state: active) or its first signal (rolled back at once)."""
        self._watching = True
        deps, record = self._deps, self.record
        try:
            assert record.since_ts is not None and record.watch_until is not None and record.active is not None
            watch = HealthWatch(deps.settings.rollback, record.since_ts, record.latency_budget_ms)
            every = deps.settings.rollback.health_every_s
            while (now := deps.clock()) < record.watch_until:
                try:
                    health = self.slot.health(record.since_ts, watch.latency_budget_ms)
                    reason = watch.verdict(health, now)
                except Exception as exc:  # a slot that cannot say how its model does is not healthy
                    reason = f"health unreadable: {type(exc).__name__}: {exc}"
                if reason is not None:
                    await self._undo("rolled_back", record.active.ref, record.active.rollout_id, reason)
                    return
                await asyncio.sleep(min(every, max(0.0, record.watch_until - now)))
            await deps.db.run(deps.state.watched, self.name)
            await self.load()
            log.warning("watch over: the new model stays", extra={"slot": self.name,
                                                                  "version": record.active.version})
        finally:
            self._watching = False

    async def _undo(self, outcome: str, ref: ModelRef, rollout_id: str | None, reason: str) -> None:
        """Back to the previous model, by the device alone; the slot keeps the new one if the old fails to load."""
        deps, started = self._deps, time.monotonic()
        previous = self.record.previous
        running = self.slot.active()
        if previous is not None and previous.path is not None and (
                running is None or (running.name, running.version) != (previous.name, previous.version)):
            try:
                await self.slot.activate(previous.path)
            except SlotError as exc:
                reason += f"; the previous model did not load either: {exc}"
                log.error("rollback failed: the previous model does not load", extra={"slot": self.name})
        elif previous is None:
            reason += "; no previous model to go back to"
        event = UpdateEvent(ts=deps.clock(), kind="refused" if outcome == "refused" else "rolled_back",
                            slot=self.name, model=ref,  # type: ignore[arg-type]
                            rollout_id=rollout_id, reason=reason[:REASON_CHARS])
        undone = await deps.db.run(deps.state.undo, self.name, outcome, event.reason, event, deps.clock())
        await self.load()
        if undone is not None:
            await self._retire(undone)
        deps.on_event(event)
        log.error("model %s: %s", "rolled back" if outcome == "rolled_back" else "refused", reason,
                  extra={"slot": self.name, "version": ref.version, "took_s": round(time.monotonic() - started, 3)})

    # ---- records ---------------------------------------------------------------
    async def _refuse(self, model: DesiredModel, ref: ModelRef, refusal: Refusal) -> None:
        deps = self._deps
        event = UpdateEvent(ts=deps.clock(), kind=refusal.kind, slot=self.name, model=ref,  # type: ignore[arg-type]
                            rollout_id=model.rollout_id, reason=refusal.reason[:REASON_CHARS])
        await deps.db.run(deps.state.refuse, self.name, ref, model.package_sha256, model.rollout_id,
                          event.reason, event, deps.clock())
        await self.load()
        deps.on_event(event)
        log.warning("model %s %s: %s", model.name, model.version, refusal.reason,
                    extra={"slot": self.name, "event": refusal.kind})

    async def _event(self, kind: EventKind, ref: ModelRef, rollout_id: str | None, reason: str | None) -> None:
        event = UpdateEvent(ts=self._deps.clock(), kind=kind, slot=self.name, model=ref,  # type: ignore[arg-type]
                            rollout_id=rollout_id, reason=reason)
        await self._deps.db.run(self._deps.state.add_event, event)
        self._deps.on_event(event)

    async def _set_state(self, state: str) -> None:
        await self._deps.db.run(self._deps.state.set_state, self.name, state)
        await self.load()

    async def _retire(self, install: Install) -> None:
        if install.path is not None:
            await self._deps.files.run(verify.remove, install.path, self._deps.models_dir)


def _log_failure(task: asyncio.Task[None]) -> None:
    """A job that died of an error it did not handle (the next poll starts another)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("update job failed: %s: %s", type(exc).__name__, exc, extra={"task": task.get_name()})


def _halted(model: DesiredModel, halted: set[str]) -> bool:
    return model.rollout_id is not None and model.rollout_id in halted


def _relative(text: str, root: Path) -> str:
    """A reason without the device's own paths (it goes to the cloud)."""
    return text.replace(str(root) + "/", "")

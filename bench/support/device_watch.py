"""What a running daemon says about one model slot, read from its ``/readyz`` (its ``updates`` section) the way
an operator's probe reads it: over HTTP, every POLL_S, each change stamped with the wall clock when first seen.

The daemon runs on this machine, so its own timestamps (``since_ts``: when the active model was switched in)
and the bench's are on one clock.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

POLL_S = 0.1
KEPT = 10_000  # changes remembered at most (a run sees tens)


@dataclass(frozen=True, slots=True)
class SlotView:
    seen_ts: float  # the bench's wall clock when this view was first read
    state: str | None
    active: str | None  # the version running now
    previous: str | None
    target: str | None  # the version being installed
    since_ts: float | None  # the device's: when the active version was switched in
    reason: str | None

    def key(self) -> tuple[Any, ...]:
        return self.state, self.active, self.previous, self.target, self.since_ts


def _version(ref: dict[str, Any] | None) -> str | None:
    return None if not ref else ref.get("version")


class DeviceWatch:
    """Polls ``{base}/readyz`` until stopped; ``changes`` holds each distinct view of ``slot``, in order."""

    def __init__(self, base_url: str, slot: str = "risk") -> None:
        self._url = base_url.rstrip("/") + "/readyz"
        self._slot = slot
        self.changes: list[SlotView] = []
        self.last: SlotView | None = None
        self.updates: dict[str, Any] = {}  # the whole updates section, as last read
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DeviceWatch:
        self._task = asyncio.create_task(self._run(), name="bench-device-watch")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(self._url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                        report = await r.json(content_type=None)  # 503 while not ready: the same body
                    self._take(report.get("updates") or {})
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    self.errors += 1
                await asyncio.sleep(POLL_S)

    def _take(self, updates: dict[str, Any]) -> None:
        self.updates = updates
        slot = (updates.get("slots") or {}).get(self._slot)
        if slot is None:
            return
        view = SlotView(time.time(), slot.get("state"), _version(slot.get("active")), _version(slot.get("previous")),
                        _version(slot.get("target")), slot.get("since_ts"), slot.get("reason"))
        if self.last is None or view.key() != self.last.key():
            if len(self.changes) < KEPT:
                self.changes.append(view)
            self.last = view

    async def until(self, check: Callable[[SlotView], bool], timeout_s: float) -> SlotView | None:
        """The first view from now on (the current one included) for which ``check`` holds; None after timeout."""
        deadline = time.monotonic() + timeout_s
        seen = max(0, len(self.changes) - 1)
        while True:
            for view in self.changes[seen:]:
                if check(view):
                    return view
            seen = max(seen, len(self.changes))
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_S / 2)

    def first(self, check: Callable[[SlotView], bool], after_ts: float = 0.0) -> SlotView | None:
        """The first recorded change at or after ``after_ts`` for which ``check`` holds."""
        return next((v for v in self.changes if v.seen_ts >= after_ts and check(v)), None)

"""The update agent's own worker threads: file work and SQLite never run on the daemon's event loop.

Two single threads rather than the loop's shared default pool: bulk file work
(writing downloaded bytes, hashing, unpacking) cannot take threads something
else on the loop needs, and a rollback's SQLite commit never queues behind
hashing a large package on the other thread.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Worker:
    """One named thread; ``await worker.run(fn, *args)`` runs ``fn`` there."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        """Wait for the job in progress (a commit, a file being written), then end the thread."""
        self._pool.shutdown(wait=True, cancel_futures=True)

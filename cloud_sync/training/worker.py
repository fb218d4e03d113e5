"""Workers: huey consumers in this process, running jobs and, every ``tick_s``, the trigger check and reaper.

``siteguard cloud worker`` runs :func:`run_worker` (huey's Consumer with its
signal handling: SIGTERM lets the running jobs finish for up to
``shutdown_s``, SIGINT leaves at once; a job left running is retried by
another worker once its lease expires). :func:`embedded_worker` runs the same consumer in threads
without touching signals, for a service or a test that hosts its own worker.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey.consumer import Consumer, Scheduler

from .queue import JobQueue

SHUTDOWN_S = 30.0


class _TickScheduler(Scheduler):
    """huey checks periodic tasks every 60 s; here every ``tick_s`` (our tasks run on every check)."""

    def __init__(self, *args: Any, tick_s: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.periodic_task_seconds = tick_s


class TrainingConsumer(Consumer):
    def __init__(self, queue: JobQueue, workers: int = 1, *, shutdown_s: float = SHUTDOWN_S) -> None:
        if workers < 1:
            raise ValueError(f"a worker needs at least one thread, not {workers}")
        self._tick_s = queue.settings.tick_s
        super().__init__(queue.huey, workers=workers, periodic=True, initial_delay=0.05,
                         max_delay=queue.settings.poll_s, scheduler_interval=1, worker_type="thread",
                         shutdown_timeout=shutdown_s, graceful_signal="TERM")

    def _create_scheduler(self) -> Scheduler:
        return _TickScheduler(huey=self.huey, stop_flag=self.stop_flag, interval=self.scheduler_interval,
                              periodic=self.periodic, tick_s=self._tick_s)


class _QuietConsumer(TrainingConsumer):
    def _set_signal_handlers(self) -> None:
        """Leaves the host's signal handling alone."""


def run_worker(queue: JobQueue, workers: int = 1) -> None:
    """Runs until SIGTERM or SIGINT (from the main thread: it installs signal handlers)."""
    TrainingConsumer(queue, workers).run()


@contextmanager
def embedded_worker(queue: JobQueue, workers: int = 1, *, shutdown_s: float = SHUTDOWN_S) -> Iterator[None]:
    """A consumer in threads while the block runs; leaving it lets running jobs finish (up to ``shutdown_s``)."""
    consumer = _QuietConsumer(queue, workers, shutdown_s=shutdown_s)
    consumer.start()
    try:
        yield
    finally:
        consumer.stop(graceful=True)

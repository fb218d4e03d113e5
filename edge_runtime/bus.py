"""In-process event bus: typed, synchronous fan-out on the event-loop thread.

The alarm path (frame -> fusion -> alarm -> notifier) runs as plain calls in
one loop tick: no queue hop, so latency is the cost of the work itself. A
handler that raises is logged and counted; it never stops the others.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
E = TypeVar("E")


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:  # one broken consumer must not silence an alarm elsewhere
                self.handler_errors += 1
                log.exception("bus handler %r failed on %s", handler, type(event).__name__)

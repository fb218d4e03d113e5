"""A bounded LRU of loaded models, safe to use from many threads.

``get(key)`` answers a loaded value, loading it at most once however many
threads ask for it at the same time: the first one loads while the others
wait on that key's lock (other keys are not held up), then find it loaded.
A failed load caches nothing; the next request tries again. Beyond ``size``
the least recently used value is dropped from the cache, not closed: a
request still running on it finishes, and its runtime is freed with the
last reference.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Pending:
    lock: threading.Lock = field(default_factory=threading.Lock)
    waiters: int = 0


@dataclass(frozen=True, slots=True)
class CacheStats:
    size: int
    loaded: tuple[object, ...]  # least recently used first
    loads: int
    hits: int
    evictions: int


class LruCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], V], size: int) -> None:
        if size < 1:
            raise ValueError(f"cache size {size}: at least 1")
        self._load = load
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, _Pending] = {}
        self._lock = threading.Lock()
        self._loads = self._hits = self._evictions = 0

    def get(self, key: K) -> tuple[V, bool]:
        """``(value, loaded_now)``; the loader's exception when it fails."""
        with self._lock:
            if (found := self._hit(key)) is not None:
                return found, False
            pending = self._pending.setdefault(key, _Pending())
            pending.waiters += 1
        try:
            with pending.lock:
                with self._lock:
                    if (found := self._hit(key)) is not None:
                        return found, False  # loaded while this thread waited
                value = self._load(key)
                with self._lock:
                    self._loads += 1
                    self._values[key] = value
                    while len(self._values) > self.size:
                        self._values.popitem(last=False)
                        self._evictions += 1
                return value, True
        finally:
            with self._lock:
                pending.waiters -= 1
                if pending.waiters == 0:
                    del self._pending[key]

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.size, tuple(self._values), self._loads, self._hits, self._evictions)

    def _hit(self, key: K) -> V | None:
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
            self._hits += 1
        return value

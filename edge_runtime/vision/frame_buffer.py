"""Frames in shared memory, newest frame wins.

A :class:`FrameRing` is one ``multiprocessing.shared_memory`` block holding a
small ring of frame slots (2-3), each with its own lock and a sequence
number. The writer (a camera's capture) never blocks: it fills a slot that is
neither the newest one (which readers want) nor locked by a reader, and drops
the frame, counted, in the unlikely case that none is free. A reader copies
the newest slot out under its lock (a VGA frame is a ~0.1 ms memcpy), so a
slow reader never holds the writer back; frames it never got to see are
counted as dropped (stale), never queued.

Locks are POSIX semaphores, so they carry the memory barriers that make a
frame written on one core fully visible on another (ARM included), which a
lock-free sequence check in Python could not promise. Only frame metadata and
slot numbers cross process boundaries; pixels stay in shared memory.

The creating process owns the block (``unlink``); other processes get the
ring as a ``Process`` argument (pickled by name) and only ``close`` it.
"""
from __future__ import annotations

import multiprocessing as mp
import secrets
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.context import BaseContext
from typing import Any

import numpy as np

_HEADER = np.dtype([("latest", "<i8"), ("written", "<i8"), ("skipped", "<i8")])
_SLOT = np.dtype([
    ("seq", "<i8"), ("frame_id", "<i8"), ("ts", "<f8"),
    ("height", "<i4"), ("width", "<i4"), ("channels", "<i4"), ("nbytes", "<i4"),
])
_META_BYTES = 64  # header and each slot's metadata are padded to a cache line
_LOCK_TIMEOUT_S = 1.0  # a reader waits at most this for a writer's memcpy


@dataclass(slots=True)
class Frame:
    """A frame copied out of the ring: pixels (uint8, HxW or HxWxC) and where they came from."""

    image: np.ndarray
    frame_id: int
    ts: float  # capture time (epoch seconds)
    seq: int  # write sequence number in its ring (1, 2, ...)


class FrameRing:
    """A few frame slots in one shared-memory block (see the module docstring)."""

    def __init__(self, shm: shared_memory.SharedMemory, slots: int, capacity: int, locks: list[Any], owner: bool) -> None:
        self._shm = shm
        self.slots = slots
        self.capacity = capacity  # bytes of pixels one slot holds
        self._locks = locks
        self._owner = owner
        buf = shm.buf
        self._header = np.ndarray((1,), _HEADER, buf, 0)
        self._meta = [np.ndarray((1,), _SLOT, buf, _META_BYTES * (1 + i)) for i in range(slots)]
        base = _META_BYTES * (1 + slots)
        self._pixels = [np.ndarray((capacity,), np.uint8, buf, base + i * capacity) for i in range(slots)]
        self._next_seq = int(self._header["written"][0]) + 1

    @classmethod
    def create(cls, max_bytes: int, *, slots: int = 3, ctx: BaseContext | None = None, name: str | None = None) -> FrameRing:
        """A new ring of ``slots`` slots of ``max_bytes`` each (pages are only used when written)."""
        if slots < 2:
            raise ValueError("a ring needs at least 2 slots for its writer never to wait")
        ctx = ctx or mp.get_context("spawn")
        size = _META_BYTES * (1 + slots) + slots * max_bytes
        shm = shared_memory.SharedMemory(name or f"sg-{secrets.token_hex(6)}", create=True, size=size)
        ring = cls(shm, slots, max_bytes, [ctx.Lock() for _ in range(slots)], owner=True)
        ring._header["latest"] = -1  # a new block is zero-filled: no slot holds a frame yet
        return ring

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def written(self) -> int:
        """Frames written so far."""
        return int(self._header["written"][0])

    @property
    def skipped(self) -> int:
        """Frames the writer dropped because every other slot was being read."""
        return int(self._header["skipped"][0])

    # -- writer ------------------------------------------------------------------------------

    def write(self, image: np.ndarray, ts: float, frame_id: int | None = None) -> int | None:
        """Publish a frame as the newest; returns its sequence number, or None if dropped.

        ``frame_id`` defaults to the sequence number, which goes on across writer
        restarts (it lives in the block). Never waits: one writer per ring."""
        if image.dtype != np.uint8:
            raise ValueError(f"frames are uint8 images, got {image.dtype}")
        if image.nbytes > self.capacity:
            raise ValueError(f"frame of {image.nbytes} bytes exceeds the slot capacity of {self.capacity}")
        latest = int(self._header["latest"][0])
        for step in range(1, self.slots + 1):
            slot = (latest + step) % self.slots
            if slot == latest or not self._locks[slot].acquire(False):
                continue
            try:
                seq = self._next_seq
                self._pixels[slot][: image.nbytes] = np.ascontiguousarray(image).reshape(-1)
                h, w = image.shape[:2]
                self._meta[slot][0] = (seq, seq if frame_id is None else frame_id, ts, h, w, image.shape[2] if image.ndim == 3 else 0, image.nbytes)
                self._header["latest"] = slot
                self._header["written"] = seq
            finally:
                self._locks[slot].release()  # a semaphore post: the frame is visible before the slot number is read
            self._next_seq = seq + 1
            return seq
        self._header["skipped"] += 1
        return None

    # -- readers -----------------------------------------------------------------------------

    def reader(self) -> RingReader:
        """A reader that takes the newest frame each time and counts the ones it never saw."""
        return RingReader(self)

    def newest(self, after_seq: int = 0) -> Frame | None:
        """A copy of the newest frame if its sequence number is above ``after_seq``."""
        slot = int(self._header["latest"][0])
        if slot < 0 or int(self._header["written"][0]) <= after_seq:
            return None
        return self._copy(slot, lambda meta: meta["seq"] > after_seq)

    def find(self, frame_id: int) -> Frame | None:
        """A copy of the frame with ``frame_id`` if the ring still holds it (snapshots)."""
        for slot in range(self.slots):
            if int(self._meta[slot]["frame_id"][0]) == frame_id:
                frame = self._copy(slot, lambda meta: meta["frame_id"] == frame_id and meta["seq"] > 0)
                if frame is not None:
                    return frame
        return None

    def _copy(self, slot: int, wanted: Any) -> Frame | None:
        lock = self._locks[slot]
        if not lock.acquire(True, _LOCK_TIMEOUT_S):
            return None
        try:
            meta = self._meta[slot][0]
            if not wanted(meta):
                return None
            h, w, c, n = int(meta["height"]), int(meta["width"]), int(meta["channels"]), int(meta["nbytes"])
            shape = (h, w, c) if c else (h, w)
            image = self._pixels[slot][:n].reshape(shape).copy()
            return Frame(image, int(meta["frame_id"]), float(meta["ts"]), int(meta["seq"]))
        finally:
            lock.release()

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Detach this process (views first: the mapping cannot close while they point into it)."""
        self._header = self._meta = self._pixels = None  # type: ignore[assignment]
        self._shm.close()

    def unlink(self) -> None:
        """Owner only: detach and free the block."""
        self.close()
        if self._owner:
            self._shm.unlink()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self._shm.name, "slots": self.slots, "capacity": self.capacity, "locks": self._locks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        shm = shared_memory.SharedMemory(state["name"])
        self.__init__(shm, state["slots"], state["capacity"], state["locks"], owner=False)  # type: ignore[misc]


class RingReader:
    """One consumer's view of a ring: newest frame wins, stale frames are counted."""

    def __init__(self, ring: FrameRing) -> None:
        self._ring = ring
        self.last_seq = 0
        self.read = 0
        self.dropped = 0  # frames written after the last read and overwritten before this one

    def latest(self) -> Frame | None:
        """The newest frame not yet read by this reader, or None."""
        frame = self._ring.newest(self.last_seq)
        if frame is None:
            return None
        if self.last_seq:  # frames written before a reader's first look are not its to count
            self.dropped += frame.seq - self.last_seq - 1
        self.last_seq = frame.seq
        self.read += 1
        return frame

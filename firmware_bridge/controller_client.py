"""Client for the site's siren/wearable controller over its framed serial link.

Every command carries a sequence number (0..255, wrapping) and is repeated
until the controller acknowledges that number: a NAK or a silent wait of
``ack_timeout_s`` sends the same frame again, up to ``retries`` times, then
:class:`~firmware_bridge.errors.LinkTimeout`. Several commands may be in
flight at once (sirens in two zones, a vibration); replies are matched by
sequence number, so they may come back in any order. The controller applies
a repeated sequence number once, so a retry after a lost ACK is harmless.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Protocol

from .codecs.controller import Ack, Nak, SirenCommand, VibrateCommand, decode_message, encode_message
from .errors import CodecError, LinkTimeout, TransportError
from .framing import DelimitedFramer

log = logging.getLogger(__name__)

Command = SirenCommand | VibrateCommand
Reply = Ack | Nak
SEQ_MODULUS = 256


class LinkWriter(Protocol):
    """What the client needs of the link (a :class:`~firmware_bridge.transport.SerialLink`)."""

    async def write(self, data: bytes) -> None: ...


@dataclass
class ControllerStats:
    commands: int = 0  # send() calls
    acked: int = 0
    frames_out: int = 0  # including retransmissions
    retries: int = 0
    naks: int = 0
    write_errors: int = 0
    link_timeouts: int = 0  # commands given up on
    corrupt_frames: int = 0  # bad COBS/CRC/shape from the controller
    unmatched: int = 0  # replies for no outstanding seq (late or duplicate)


class ControllerClient:
    """Sends commands and waits for their ACKs; wire :meth:`feed` as on_bytes."""

    def __init__(self, link_writer: LinkWriter, *, ack_timeout_s: float, retries: int) -> None:
        if ack_timeout_s <= 0 or retries < 0:
            raise ValueError("ack_timeout_s must be > 0 and retries >= 0")
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.stats = ControllerStats()
        self._link = link_writer
        self._framer = DelimitedFramer()
        self._next_seq = 0
        self._pending: dict[int, asyncio.Future[Reply]] = {}

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    async def set_siren(self, zone: str, on: bool, pattern: int = 1) -> None:
        await self.send(SirenCommand(0, zone, on, pattern))

    async def vibrate(self, wearable: str, pattern: int = 1, duration_ms: int = 1000) -> None:
        await self.send(VibrateCommand(0, wearable, pattern, duration_ms))

    async def send(self, command: Command) -> None:
        """Deliver ``command`` (its ``seq`` is assigned here) or raise LinkTimeout."""
        self.stats.commands += 1
        seq = self._allocate_seq()
        message = dataclasses.replace(command, seq=seq)
        frame = encode_message(message)
        loop = asyncio.get_running_loop()
        last_problem = "no reply"
        try:
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                reply_future: asyncio.Future[Reply] = loop.create_future()
                self._pending[seq] = reply_future
                try:
                    await self._link.write(frame)
                    self.stats.frames_out += 1
                except TransportError as exc:
                    # Link down: spend this attempt's time anyway; it may be back for the next.
                    self.stats.write_errors += 1
                    last_problem = f"write failed: {exc}"
                try:
                    reply = await asyncio.wait_for(reply_future, self.ack_timeout_s)
                except asyncio.TimeoutError:
                    continue
                if isinstance(reply, Ack):
                    self.stats.acked += 1
                    return
                self.stats.naks += 1
                last_problem = f"NAK code {reply.code}"
                log.warning(
                    "controller NAKed %s (seq %d, code %d), attempt %d", type(message).__name__, seq, reply.code, attempt + 1
                )
        finally:
            self._pending.pop(seq, None)
        self.stats.link_timeouts += 1
        raise LinkTimeout(f"controller did not acknowledge {message} after {self.retries + 1} attempts ({last_problem})")

    def feed(self, data: bytes) -> None:
        """Bytes from the link; resolves the waiting sends their replies match."""
        for frame in self._framer.feed(data):
            if not frame:
                continue  # back-to-back delimiters: idle fill, not a frame
            try:
                message = decode_message(frame)
            except CodecError as exc:
                self.stats.corrupt_frames += 1
                log.debug("corrupt frame from controller: %s", exc)
                continue
            if not isinstance(message, (Ack, Nak)):
                self.stats.unmatched += 1
                continue
            future = self._pending.get(message.seq)
            if future is None or future.done():
                self.stats.unmatched += 1
                continue
            future.set_result(message)

    def _allocate_seq(self) -> int:
        """Next sequence number that is not still waiting for its reply."""
        for _ in range(SEQ_MODULUS):
            seq = self._next_seq
            self._next_seq = (seq + 1) % SEQ_MODULUS
            if seq not in self._pending:
                return seq
        raise TransportError(f"{SEQ_MODULUS} commands already outstanding")

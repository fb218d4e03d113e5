"""Emulated siren/wearable controller on a :class:`PtyPort`, for tests and the demo.

It speaks the real framed protocol (COBS frames of the controller codec),
applies commands to its own state (siren per zone, vibration log) and ACKs
them. To exercise the client's retries it can lose a fraction of commands,
NAK them, corrupt its ACKs, or fall silent, either at random (seeded) rates
or for the next *n* commands. Like real firmware it applies a repeated
sequence number once and just re-ACKs it, so retries never double-vibrate.
"""
from __future__ import annotations

import logging
import random
from collections import OrderedDict
from dataclasses import dataclass

from firmware_bridge.codecs.controller import Ack, Nak, SirenCommand, VibrateCommand, decode_message, encode_message
from firmware_bridge.errors import CodecError
from firmware_bridge.framing import DelimitedFramer

from .pty import PtyPort

log = logging.getLogger(__name__)

Command = SirenCommand | VibrateCommand
RECENT_WINDOW = 32  # sequence numbers remembered for duplicate detection


@dataclass(frozen=True, slots=True)
class SirenState:
    on: bool
    pattern: int


@dataclass
class ControllerSimStats:
    frames: int = 0  # well-formed frames seen, whatever happened to them
    bad_frames: int = 0
    applied: int = 0
    duplicates: int = 0
    dropped: int = 0
    naked: int = 0
    corrupted: int = 0


class EmulatedController:
    """The controller firmware: frames in, state and ACK/NAK frames out."""

    def __init__(
        self,
        port: PtyPort,
        *,
        drop_rate: float = 0.0,
        nak_rate: float = 0.0,
        corrupt_rate: float = 0.0,
        nak_code: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        self.port = port
        self.drop_rate = drop_rate
        self.nak_rate = nak_rate
        self.corrupt_rate = corrupt_rate
        self.nak_code = nak_code
        self.silent = False  # hung firmware: reads, never answers, applies nothing
        self.sirens: dict[str, SirenState] = {}
        self.vibrations: list[VibrateCommand] = []
        self.stats = ControllerSimStats()
        self._rng = rng or random.Random()
        self._framer = DelimitedFramer()
        self._recent: OrderedDict[int, Command] = OrderedDict()
        self._scripted: dict[str, int] = {"drop": 0, "nak": 0, "corrupt": 0}

    def drop_next(self, n: int = 1) -> None:
        """Lose the next ``n`` commands on the wire (no state change, no reply)."""
        self._scripted["drop"] += n

    def nak_next(self, n: int = 1) -> None:
        """Refuse the next ``n`` commands with ``nak_code``."""
        self._scripted["nak"] += n

    def corrupt_next(self, n: int = 1) -> None:
        """Apply the next ``n`` commands but mangle one byte of their ACK."""
        self._scripted["corrupt"] += n

    def siren_on(self, zone: str) -> bool:
        state = self.sirens.get(zone)
        return bool(state and state.on)

    async def start(self) -> None:
        self.port.set_receiver(self._on_bytes)

    async def stop(self) -> None:
        self.port.clear_receiver()

    async def __aenter__(self) -> EmulatedController:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._framer.feed(data):
            if not frame:
                continue
            try:
                message = decode_message(frame)
            except CodecError:
                self.stats.bad_frames += 1
                continue
            self.stats.frames += 1
            if isinstance(message, (SirenCommand, VibrateCommand)):
                self._handle(message)

    def _handle(self, command: Command) -> None:
        if self.silent:
            return
        if self._take("drop", self.drop_rate):
            self.stats.dropped += 1
            return
        if self._take("nak", self.nak_rate):
            self.stats.naked += 1
            self.port.write(encode_message(Nak(command.seq, self.nak_code)))
            return
        if self._recent.get(command.seq) == command:
            self.stats.duplicates += 1  # our ACK was lost: re-ACK, do not re-apply
        else:
            self._apply(command)
        ack = encode_message(Ack(command.seq))
        if self._take("corrupt", self.corrupt_rate):
            self.stats.corrupted += 1
            ack = _corrupt(ack)
        self.port.write(ack)

    def _apply(self, command: Command) -> None:
        self.stats.applied += 1
        self._recent[command.seq] = command
        self._recent.move_to_end(command.seq)
        while len(self._recent) > RECENT_WINDOW:
            self._recent.popitem(last=False)
        if isinstance(command, SirenCommand):
            self.sirens[command.zone] = SirenState(command.on, command.pattern)
        else:
            self.vibrations.append(command)

    def _take(self, fault: str, rate: float) -> bool:
        """Consume a scripted fault if one is queued, else roll the dice."""
        if self._scripted[fault]:
            self._scripted[fault] -= 1
            return True
        return rate > 0 and self._rng.random() < rate


def _corrupt(frame: bytes) -> bytes:
    """Change one body byte, never into the 0x00 delimiter, so the frame stays one frame."""
    body = bytearray(frame)
    i = (len(body) - 1) // 2
    body[i] = body[i] % 255 + 1
    return bytes(body)

"""ControllerClient and ControllerNotifier against the emulated controller on a pty."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edge_runtime.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Notify,
    PreAlarm,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
)
from edge_runtime.notifiers.serial_controller import ControllerNotifier
from firmware_bridge.backoff import Backoff
from firmware_bridge.codecs.controller import SirenCommand, VibrateCommand
from firmware_bridge.controller_client import ControllerClient
from firmware_bridge.errors import LinkTimeout, TransportError
from firmware_bridge.sim.controller import EmulatedController, SirenState
from firmware_bridge.sim.pty import PtyPort
from firmware_bridge.transport import SerialLink

ACK_TIMEOUT = 0.05


async def eventually(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f}s")
        await asyncio.sleep(0.002)


class Rig:
    """Daemon side (link + client) wired to the emulated controller."""

    def __init__(self, port: PtyPort, controller: EmulatedController, retries: int) -> None:
        self.port = port
        self.controller = controller
        self.link = SerialLink(str(port.path), 115200, self._on_bytes, backoff=Backoff(0.01, 0.05), name="controller")
        self.client = ControllerClient(self.link, ack_timeout_s=ACK_TIMEOUT, retries=retries)

    def _on_bytes(self, data: bytes) -> None:
        self.client.feed(data)


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    retries = getattr(request, "param", 3)
    with PtyPort(tmp_path, "ttyACM0") as port:
        async with EmulatedController(port, rng=random.Random(1)) as controller:
            r = Rig(port, controller, retries)
            task = asyncio.create_task(r.link.run())
            await eventually(lambda: r.link.is_open)
            yield r
            r.link.stop()
            await asyncio.wait_for(task, 2.0)


async def test_ack(rig: Rig) -> None:
    await rig.client.set_siren("zone-a", True, pattern=2)
    assert rig.controller.sirens == {"zone-a": SirenState(True, 2)}
    await rig.client.vibrate("wb-7", pattern=3, duration_ms=500)
    (vib,) = rig.controller.vibrations
    assert (vib.wearable, vib.pattern, vib.duration_ms) == ("wb-7", 3, 500)
    s = rig.client.stats
    assert (s.commands, s.acked, s.frames_out, s.retries) == (2, 2, 2, 0)
    assert rig.client.outstanding == 0


async def test_many_outstanding_matched_by_seq(rig: Rig) -> None:
    await asyncio.wait_for(asyncio.gather(*(rig.client.vibrate(f"wb-{i}") for i in range(40))), 5.0)
    assert sorted(v.wearable for v in rig.controller.vibrations) == sorted(f"wb-{i}" for i in range(40))
    assert len({v.seq for v in rig.controller.vibrations}) == 40
    assert rig.client.stats.acked == 40 and rig.client.stats.retries == 0


async def test_sequence_numbers_wrap(rig: Rig) -> None:
    for _ in range(260):
        await rig.client.send(SirenCommand(seq=99, zone="z", on=True))  # the caller's seq is replaced
    assert rig.client.stats.acked == 260
    # seq 0..3 came round again: applied as new commands, not taken for duplicates
    assert rig.controller.stats.applied == 260 and rig.controller.stats.duplicates == 0


async def test_retry_after_dropped_frames(rig: Rig) -> None:
    rig.controller.drop_next(2)
    await rig.client.vibrate("wb-1")
    assert rig.client.stats.retries == 2 and rig.client.stats.frames_out == 3
    assert len(rig.controller.vibrations) == 1 and rig.controller.stats.dropped == 2


async def test_corrupt_ack_counted_retry_not_reapplied(rig: Rig) -> None:
    rig.controller.corrupt_next(1)
    await rig.client.vibrate("wb-2")
    assert rig.client.stats.corrupt_frames == 1 and rig.client.stats.retries == 1
    assert len(rig.controller.vibrations) == 1  # the retry was recognised as a duplicate
    assert rig.controller.stats.duplicates == 1


async def test_nak_is_retried_and_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.controller.nak_code = 3
    rig.controller.nak_next(1)
    with caplog.at_level(logging.WARNING, logger="firmware_bridge.controller_client"):
        await rig.client.set_siren("zone-b", True)
    assert rig.client.stats.naks == 1 and rig.client.stats.retries == 1
    assert rig.controller.siren_on("zone-b")
    assert any("code 3" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("rig", [2], indirect=True)
async def test_link_timeout_when_controller_silent(rig: Rig) -> None:
    rig.controller.silent = True
    started = time.monotonic()
    with pytest.raises(LinkTimeout):
        await rig.client.vibrate("wb-3")
    assert time.monotonic() - started < 1.0
    assert rig.controller.stats.frames == 3  # first try + 2 retries all reached it
    assert rig.client.stats.link_timeouts == 1 and rig.client.outstanding == 0
    rig.controller.silent = False
    await rig.client.vibrate("wb-3")  # and the client is fine afterwards


async def test_lossy_controller_at_random_rates(rig: Rig) -> None:
    rig.controller.drop_rate, rig.controller.nak_rate, rig.controller.corrupt_rate = 0.2, 0.1, 0.1
    rig.client.retries = 10
    wanted: dict[str, SirenState] = {}
    for i in range(30):
        zone, state = f"z{i % 3}", SirenState(i % 2 == 0, 1 + i % 4)
        await rig.client.set_siren(zone, state.on, state.pattern)
        wanted[zone] = state
    assert rig.controller.sirens == wanted
    c = rig.controller.stats
    assert c.dropped and c.naked and c.corrupted
    assert rig.client.stats.acked == 30


async def test_send_while_link_down_raises_link_timeout(tmp_path: Path) -> None:
    link = SerialLink(str(tmp_path / "nothing"), 115200, lambda _: None)
    client = ControllerClient(link, ack_timeout_s=0.01, retries=1)
    with pytest.raises(LinkTimeout) as info:
        await client.vibrate("wb")
    assert isinstance(info.value, TransportError) and "write failed" in str(info.value)
    assert client.stats.write_errors == 2


# -- notifier -----------------------------------------------------------------------------------

def alarm(alarm_id: str, sirens: tuple[str, ...], workers: tuple[str, ...] = (), priority: Priority = Priority.HIGH) -> Alarm:
    return Alarm(
        alarm_id=alarm_id,
        subject=Subject(SubjectKind.ZONE, "zone-a"),
        condition="gas:H2S",
        kind=AlarmKind.ZONE_GAS,
        priority=priority,
        state=AlarmState.UNACK,
        message="H2S high",
        raised_ts=0.0,
        updated_ts=0.0,
        notify=Notify(workers=workers, sirens=sirens),
    )


def move(a: Alarm, cause: TransitionCause, state: AlarmState, ts: float = 1.0) -> AlarmTransition:
    before = a.state
    a.state = state
    return AlarmTransition(a, cause, before, state, ts)


async def settle(n: ControllerNotifier) -> None:
    await eventually(lambda: n.pending == 0)


async def test_notifier_siren_reference_counting(rig: Rig) -> None:
    n = ControllerNotifier(rig.client, {})
    ctl = rig.controller
    a1, a2 = alarm("a1", ("zone-a",)), alarm("a2", ("zone-a", "zone-b"), priority=Priority.CRITICAL)

    n.on_transition(move(a1, TransitionCause.RAISED, AlarmState.UNACK))
    await settle(n)
    assert ctl.sirens["zone-a"] == SirenState(True, int(Priority.HIGH))
    n.on_transition(move(a2, TransitionCause.RAISED, AlarmState.UNACK))
    await settle(n)
    assert ctl.sirens["zone-a"] == SirenState(True, int(Priority.CRITICAL))  # the louder pattern wins
    assert ctl.siren_on("zone-b")

    n.on_transition(move(a2, TransitionCause.CLOSED, AlarmState.NORMAL))
    await settle(n)
    assert ctl.sirens["zone-a"] == SirenState(True, int(Priority.HIGH))  # a1 still open
    assert not ctl.siren_on("zone-b")

    n.on_transition(move(a1, TransitionCause.ACKNOWLEDGED, AlarmState.ACKED))
    await settle(n)
    assert ctl.siren_on("zone-a")  # acknowledged but still active: keeps sounding
    applied = ctl.stats.applied
    n.on_transition(move(a1, TransitionCause.CLEARED, AlarmState.ACKED))
    await settle(n)
    assert ctl.stats.applied == applied  # no change, no command

    a1.muted_until = 100.0
    n.on_transition(move(a1, TransitionCause.MUTED, AlarmState.ACKED, ts=2.0))
    await settle(n)
    assert not ctl.siren_on("zone-a")
    n.on_transition(move(a1, TransitionCause.RE_ALARMED, AlarmState.UNACK, ts=101.0))
    await settle(n)
    assert ctl.siren_on("zone-a")

    n.on_transition(move(a1, TransitionCause.SHELVED, AlarmState.SHELVED))
    await settle(n)
    assert not ctl.siren_on("zone-a") and not n.siren_wanted("zone-a")
    assert n.failures == 0


async def test_notifier_vibrates_notified_workers(rig: Rig) -> None:
    n = ControllerNotifier(rig.client, {"ana": "wb-ana", "ben": "wb-ben"})
    a = alarm("a3", (), workers=("ana", "ben", "nobody"))
    n.on_transition(move(a, TransitionCause.RAISED, AlarmState.UNACK))
    await settle(n)
    assert sorted(v.wearable for v in rig.controller.vibrations) == ["wb-ana", "wb-ben"]

    n.on_transition(move(a, TransitionCause.ACKNOWLEDGED, AlarmState.ACKED))
    await settle(n)
    assert len(rig.controller.vibrations) == 2  # acknowledging does not buzz anyone

    a.priority = Priority.CRITICAL
    n.on_transition(move(a, TransitionCause.ESCALATED, AlarmState.UNACK))
    n.on_pre_alarm(PreAlarm("ana", None, AlarmKind.NO_MOTION, deadline_ts=30.0, ts=0.0))
    n.on_pre_alarm(PreAlarm("ben", "wb-ben", AlarmKind.FALL, deadline_ts=30.0, ts=0.0, cancelled=True))
    await settle(n)
    assert [v.wearable for v in rig.controller.vibrations].count("wb-ana") == 3
    assert [v.wearable for v in rig.controller.vibrations].count("wb-ben") == 2
    assert all(isinstance(v, VibrateCommand) for v in rig.controller.vibrations)


async def test_notifier_counts_failures_and_siren_converges(rig: Rig) -> None:
    n = ControllerNotifier(rig.client, {"ana": "wb-ana"}, backoff_factory=lambda: Backoff(0.02, 0.05, jitter=0.0))
    rig.client.retries = 0
    rig.controller.silent = True
    a = alarm("a4", ("zone-c",), workers=("ana",))
    n.on_transition(move(a, TransitionCause.RAISED, AlarmState.UNACK))  # returns at once
    await eventually(lambda: n.failures >= 3)  # vibration gave up; siren keeps trying
    assert not rig.controller.siren_on("zone-c")
    rig.controller.silent = False
    await settle(n)
    assert rig.controller.siren_on("zone-c")

"""No-motion, fall, panic, check-in and link rules of the wearable."""
from __future__ import annotations

from edge_runtime.alarms.model import Actor, AlarmKind, Channel, Priority, SubjectKind
from firmware_bridge.readings import CheckIn, Contact, HeartRate, Motion, PanicButton

from .support import Harness, site

STILL = Motion(0.02, -0.01, 1.0)
WALK = (Motion(0.3, 0.1, 1.3), Motion(-0.2, 0.0, 0.7))


def samples(
    h: Harness, seconds: float, motion: Motion | tuple[Motion, ...], hz: int = 10, device: str = "wb07"
) -> None:
    """Accelerometer samples at ``hz`` with a normal pulse once a second (ticks every 0.25 s)."""
    cycle = motion if isinstance(motion, tuple) else (motion,)
    n = round(seconds * hz)
    for i in range(n):
        h.feed(device, cycle[i % len(cycle)])
        if i % hz == 0:
            h.feed(device, HeartRate(80, Contact.DETECTED))
        h.t += 1.0 / hz
        if i % max(hz // 4, 1) == 0:
            h.engine.tick()


def test_no_motion_pre_alarm_then_alarm() -> None:
    h = Harness()
    samples(h, 5, WALK)
    samples(h, 119, STILL)
    assert h.pre_alarms == []
    samples(h, 1.5, STILL)
    (pre,) = h.pre_alarms
    assert (pre.worker, pre.wearable, pre.kind, pre.cancelled) == ("w07", "wb07", AlarmKind.NO_MOTION, False)
    assert pre.deadline_ts == pre.ts + 30
    assert h.of("man_down") == []  # supervisors hear nothing during the cancel window
    samples(h, 29, STILL)
    assert h.of("man_down") == []
    samples(h, 1.5, STILL)
    u = h.last("man_down", "w07")
    assert u.active and u.kind is AlarmKind.NO_MOTION and u.priority is Priority.HIGH
    assert u.notify.workers[:2] == ("w07", "s01")  # the worker and the supervisor
    samples(h, 1, WALK)  # moving again: the condition is gone (the engine latches the alarm)
    assert not h.active("man_down", "w07")


def test_movement_during_the_window_cancels_and_restarts_the_timer() -> None:
    h = Harness()
    samples(h, 121, STILL)
    samples(h, 2, WALK)
    assert [p.cancelled for p in h.pre_alarms] == [False, True]
    samples(h, 60, STILL)
    assert h.of("man_down") == [] and len(h.pre_alarms) == 2


def test_cancel_press_and_api_cancel_the_pre_alarm() -> None:
    h = Harness()
    assert h.engine.cancel_pre_alarm("w07") is False
    samples(h, 121, STILL)
    assert h.engine.cancel_pre_alarm("w07") is True
    assert h.pre_alarms[-1].cancelled
    assert h.engine.cancel_pre_alarm("w07") is False
    samples(h, 121, STILL)
    h.feed("wb07", PanicButton(pressed=False))  # the wearable's cancel button
    assert h.pre_alarms[-1].cancelled and len(h.pre_alarms) == 4
    samples(h, 40, STILL)
    assert h.of("man_down") == [] and h.of("panic") == []


def test_a_silent_wearable_is_link_lost_not_man_down() -> None:
    h = Harness()
    samples(h, 5, STILL)
    h.advance(200)
    assert h.pre_alarms == [] and h.of("man_down") == []
    u = h.last("link", "wb07")
    assert u.active and u.kind is AlarmKind.LINK_LOST and u.subject.kind is SubjectKind.DEVICE
    assert u.priority is Priority.LOW
    samples(h, 1, STILL)
    assert not h.active("link", "wb07")


def fall(h: Harness, bounce: bool = True) -> None:
    """25 Hz: walking, 0.3 s of free fall, a 3.5 g impact, a bounce, then lying still."""
    samples(h, 2, WALK, hz=25)
    samples(h, 0.32, Motion(0.05, 0.1, 0.2), hz=25)
    samples(h, 0.04, Motion(1.5, 1.2, 2.9), hz=25)
    if bounce:
        samples(h, 0.4, (Motion(0.2, 0.1, 1.4), Motion(0.0, 0.3, 0.6)), hz=25)


def test_fall_free_fall_impact_then_inactivity() -> None:
    h = Harness()
    fall(h)
    samples(h, 4, STILL, hz=25)
    assert h.pre_alarms == []
    samples(h, 1.5, STILL, hz=25)  # 5 s still after the bounce
    (pre,) = h.pre_alarms
    assert pre.kind is AlarmKind.FALL
    samples(h, 30.5, STILL, hz=25)
    u = h.last("man_down", "w07")
    assert u.active and u.kind is AlarmKind.FALL and u.priority is Priority.HIGH
    assert "3.5 g impact" in u.message


def test_getting_up_after_a_fall_is_not_a_man_down() -> None:
    h = Harness()
    fall(h)
    samples(h, 3, STILL, hz=25)
    samples(h, 2, WALK, hz=25)  # stands up and walks on
    samples(h, 10, STILL, hz=25)
    assert h.pre_alarms == []


def test_an_impact_without_free_fall_or_too_late_is_no_fall() -> None:
    h = Harness()
    samples(h, 1, WALK, hz=25)
    samples(h, 0.04, Motion(1.5, 1.2, 2.9), hz=25)  # banging the helmet on a pipe
    samples(h, 10, STILL, hz=25)
    samples(h, 0.32, Motion(0.05, 0.1, 0.2), hz=25)
    samples(h, 1.5, STILL, hz=25)
    samples(h, 0.04, Motion(1.5, 1.2, 2.9), hz=25)  # 1.5 s after the free fall
    samples(h, 10, STILL, hz=25)
    assert h.pre_alarms == []


def test_panic_is_immediate_critical_and_cancel_withdraws_it() -> None:
    h = Harness()
    h.fix("gp07", 200, 200)
    h.fix("gp08", 210, 200)  # Ben, 10 m away
    h.fix("gp10", 400, 200)  # Dev, 200 m away
    h.feed("wb07", PanicButton(pressed=True))
    u = h.last("panic", "w07")
    assert u.active and u.kind is AlarmKind.PANIC and u.priority is Priority.CRITICAL and u.ts == h.t
    assert u.notify.workers == ("w07", "s01", "w08")
    h.feed("wb07", PanicButton(pressed=True))
    assert len(h.of("panic")) == 1
    assert u.actor is None  # the press itself is the sensor's fact
    h.feed("wb07", PanicButton(pressed=False))
    assert not h.active("panic", "w07")
    assert h.last("panic", "w07").actor == Actor(Channel.WEARABLE, "wb07")  # the withdrawal is the worker's own act


def lone_config() -> dict:
    return site(check_in={"interval_s": 600, "cancel_window_s": 30})


def test_missed_check_in_pre_alarm_then_alarm() -> None:
    h = Harness(lone_config())
    h.feed("wb10", HeartRate(80, Contact.DETECTED))
    h.feed("wb07", HeartRate(80, Contact.DETECTED))  # Ana is not a lone worker
    for _ in range(20):
        h.advance(30)
        h.feed("wb10", HeartRate(80, Contact.DETECTED))
        h.feed("wb07", HeartRate(80, Contact.DETECTED))
    (pre,) = h.pre_alarms
    assert (pre.worker, pre.kind) == ("w10", AlarmKind.CHECK_IN_MISSED)
    h.advance(30)
    u = h.last("check_in", "w10")
    assert u.active and u.kind is AlarmKind.CHECK_IN_MISSED and u.priority is Priority.HIGH
    h.feed("wb10", CheckIn())
    assert not h.active("check_in", "w10")
    h.advance(599)
    assert len(h.pre_alarms) == 1  # the timer restarted at the check-in
    assert h.of("check_in", "w07") == []


def test_check_in_during_the_window_cancels_it() -> None:
    h = Harness(lone_config())
    h.feed("wb10", HeartRate(80, Contact.DETECTED))
    h.advance(605)
    h.engine.check_in("w10")
    assert [p.cancelled for p in h.pre_alarms] == [False, True]
    h.advance(60)
    assert h.of("check_in") == []

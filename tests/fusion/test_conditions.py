"""The emit-on-change board and banded classification with hysteresis."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate, Notify, PreAlarm, Priority
from edge_runtime.config.alarms import AlarmSettings
from edge_runtime.fusion.conditions import ConditionBoard, Level, classify, worker_subject

W = worker_subject("w07")


def board() -> tuple[ConditionBoard, list[ConditionUpdate]]:
    out: list[ConditionUpdate] = []
    return ConditionBoard(AlarmSettings(), out.append, lambda p: None), out


def test_only_changes_are_emitted() -> None:
    b, out = board()
    assert b.clear(W, "gas:H2S", 1.0) is False  # never raised: nothing to clear
    assert b.raise_(W, "gas:H2S", AlarmKind.GAS_LOW, 1.0, "low", value=12, threshold=10, direction="high")
    assert not b.raise_(W, "gas:H2S", AlarmKind.GAS_LOW, 2.0, "low", value=13, threshold=10, direction="high")
    assert b.raise_(W, "gas:H2S", AlarmKind.GAS_HIGH, 3.0, "high")
    assert b.raise_(W, "gas:H2S", AlarmKind.GAS_HIGH, 4.0, "high", notify=Notify(workers=("w07",)))
    assert b.clear(W, "gas:H2S", 5.0, value=3.0)
    assert not b.clear(W, "gas:H2S", 6.0)
    assert [(u.active, u.kind, u.priority) for u in out] == [
        (True, AlarmKind.GAS_LOW, Priority.MEDIUM), (True, AlarmKind.GAS_HIGH, Priority.HIGH),
        (True, AlarmKind.GAS_HIGH, Priority.HIGH), (False, AlarmKind.GAS_HIGH, Priority.HIGH),
    ]
    cleared = out[-1]
    assert cleared.message == "Cleared: high" and cleared.value == 3.0 and cleared.notify.workers == ("w07",)


def test_priorities_come_from_the_site_config() -> None:
    settings = AlarmSettings.model_validate({"classes": {"gas_low": {"priority": Priority.HIGH}}})
    out: list[ConditionUpdate] = []
    b = ConditionBoard(settings, out.append, lambda p: None)
    b.raise_(W, "gas:CO", AlarmKind.GAS_LOW, 1.0, "low")
    assert out[0].priority is Priority.HIGH


def test_consumer_errors_are_counted_not_raised() -> None:
    def boom(_: object) -> None:
        raise RuntimeError

    b = ConditionBoard(AlarmSettings(), boom, boom)
    b.raise_(W, "panic", AlarmKind.PANIC, 1.0, "panic")
    b.pre_alarm(PreAlarm("w07", "wb07", AlarmKind.NO_MOTION, 31.0, 1.0))
    assert b.emit_errors == 2


BANDS = (
    Level(AlarmKind.GAS_HIGH, 20.0, "high", 0.5, Priority.HIGH, "high"),
    Level(AlarmKind.GAS_LOW, 10.0, "high", 0.5, Priority.MEDIUM, "low"),
)
O2 = (
    Level(AlarmKind.GAS_HIGH, 23.5, "high", 0.5, Priority.HIGH, "high"),
    Level(AlarmKind.GAS_LOW, 19.5, "low", 0.5, Priority.MEDIUM, "low"),
)


def test_classify_enters_at_the_threshold_and_leaves_past_the_hysteresis() -> None:
    assert classify(BANDS, 9.9, None) is None
    assert classify(BANDS, 10.0, None) == 1
    assert classify(BANDS, 9.6, 1) == 1
    assert classify(BANDS, 9.5, 1) is None
    assert classify(BANDS, 19.7, 0) == 0
    assert classify(BANDS, 19.4, 0) == 1
    assert classify(BANDS, 9.7, 0) == 1  # dropping from high keeps the low band's hysteresis


def test_classify_two_sided_bands() -> None:
    assert classify(O2, 20.9, None) is None
    assert classify(O2, 19.4, None) == 1
    assert classify(O2, 19.9, 1) == 1
    assert classify(O2, 20.0, 1) is None
    assert classify(O2, 23.2, 0) == 0
    assert classify(O2, 19.9, 0) is None  # the low band's hold does not apply from the high side

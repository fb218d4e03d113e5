"""Every transition of the ISA-18.2 state machine, table-driven: a script of
steps on one zone alarm and the exact (cause, from, to) stream it must emit."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from edge_runtime.alarms.model import AlarmKind, AlarmState, TransitionCause, Verdict

from .support import DEFAULTS, OPERATOR, SUP, TECH, ZONE, Harness

C, S = TransitionCause, AlarmState
K = AlarmKind
PLAIN, LATCHING = K.GAS_LOW, K.GAS_HIGH  # GAS_LOW does not latch, GAS_HIGH does
MORE_SEVERE = {PLAIN: K.GAS_HIGH, LATCHING: K.GAS_OVER_RANGE}


def _id(h: Harness) -> str:
    return h.transitions[0].alarm.alarm_id


STEPS: dict[str, Callable[[Harness, AlarmKind], object]] = {
    "raise": lambda h, k: h.update(k, subject=ZONE),
    "clear": lambda h, k: h.update(k, False, subject=ZONE),
    "return": lambda h, k: h.update(k, subject=ZONE),
    "escalate": lambda h, k: h.update(MORE_SEVERE[k], subject=ZONE),
    "ack": lambda h, k: h.engine.acknowledge(_id(h), SUP),
    "verdict": lambda h, k: h.engine.set_verdict(_id(h), Verdict.CONFIRMED, SUP),
    "score": lambda h, k: h.engine.score(_id(h), 0.9, {"name": "risk", "version": "1", "sha256": "0" * 64}),
    "mute": lambda h, k: h.engine.mute(_id(h), OPERATOR),
    "shelve": lambda h, k: h.engine.shelve(_id(h), SUP, 600, "nuisance while welding"),
    "unshelve": lambda h, k: h.engine.unshelve(_id(h), SUP),
    "suppress": lambda h, k: h.engine.suppress_zone("z1", SUP, "locked out"),
    "unsuppress": lambda h, k: h.engine.unsuppress_zone("z1", SUP),
    "oos": lambda h, k: h.engine.set_out_of_service(ZONE, TECH, "detector swap"),
    "rts": lambda h, k: h.engine.return_to_service(ZONE, TECH),
    "wait_re_alarm": lambda h, k: h.advance(DEFAULTS.for_kind(k).re_alarm_s or 0),
    "wait_mute": lambda h, k: h.advance(60),
    "wait_shelve": lambda h, k: h.advance(600),
}

CASES = [
    ("raise", PLAIN, "raise", [(C.RAISED, S.NORMAL, S.UNACK)]),
    ("ack active", PLAIN, "raise ack", [(C.ACKNOWLEDGED, S.UNACK, S.ACKED)]),
    ("clear after ack closes", PLAIN, "raise ack clear", [(C.CLOSED, S.ACKED, S.NORMAL)]),
    ("clear before ack", PLAIN, "raise clear", [(C.CLEARED, S.UNACK, S.RTN_UNACK)]),
    ("ack after return to normal", PLAIN, "raise clear ack", [(C.ACKNOWLEDGED, S.RTN_UNACK, S.NORMAL)]),
    ("condition returns unacked", PLAIN, "raise clear return", [(C.RE_ALARMED, S.RTN_UNACK, S.UNACK)]),
    ("latched clear keeps sounding", LATCHING, "raise clear", [(C.CLEARED, S.UNACK, S.UNACK)]),
    ("latched ack after clear closes", LATCHING, "raise clear ack", [(C.ACKNOWLEDGED, S.UNACK, S.NORMAL)]),
    ("latched ack then clear closes", LATCHING, "raise ack clear", [(C.CLOSED, S.ACKED, S.NORMAL)]),
    ("latched condition returns", LATCHING, "raise clear return", [(C.RE_ALARMED, S.UNACK, S.UNACK)]),
    ("escalation needs a new ack", PLAIN, "raise ack escalate", [(C.ESCALATED, S.ACKED, S.UNACK)]),
    ("escalation after clear", PLAIN, "raise clear escalate", [(C.ESCALATED, S.RTN_UNACK, S.UNACK)]),
    ("escalate latching", LATCHING, "raise escalate", [(C.ESCALATED, S.UNACK, S.UNACK)]),
    ("re-alarm", PLAIN, "raise wait_re_alarm", [(C.RE_ALARMED, S.UNACK, S.UNACK)]),
    ("latched re-alarm", LATCHING, "raise clear wait_re_alarm", [(C.RE_ALARMED, S.UNACK, S.UNACK)]),
    ("mute", PLAIN, "raise mute", [(C.MUTED, S.UNACK, S.UNACK)]),
    ("mute expires", PLAIN, "raise mute wait_mute", [(C.RE_ALARMED, S.UNACK, S.UNACK)]),
    ("mute then ack", PLAIN, "raise mute ack", [(C.ACKNOWLEDGED, S.UNACK, S.ACKED)]),
    ("shelve", PLAIN, "raise shelve", [(C.SHELVED, S.UNACK, S.SHELVED)]),
    ("unshelve", PLAIN, "raise shelve unshelve", [(C.UNSHELVED, S.SHELVED, S.UNACK)]),
    ("unshelve acked", PLAIN, "raise ack shelve unshelve", [(C.UNSHELVED, S.SHELVED, S.ACKED)]),
    ("shelve expires", PLAIN, "raise shelve wait_shelve", [(C.UNSHELVED, S.SHELVED, S.UNACK)]),
    ("clear while shelved", PLAIN, "raise shelve clear", [(C.CLEARED, S.SHELVED, S.SHELVED)]),
    ("unshelve after clear", PLAIN, "raise shelve clear unshelve", [(C.UNSHELVED, S.SHELVED, S.RTN_UNACK)]),
    ("latched unshelve after clear", LATCHING, "raise shelve clear wait_shelve", [(C.UNSHELVED, S.SHELVED, S.UNACK)]),
    ("acked clear while shelved closes", PLAIN, "raise ack shelve clear", [(C.CLOSED, S.SHELVED, S.NORMAL)]),
    ("ack while shelved", PLAIN, "raise shelve ack", [(C.ACKNOWLEDGED, S.SHELVED, S.SHELVED)]),
    ("return while shelved", PLAIN, "raise shelve clear return", [(C.RE_ALARMED, S.SHELVED, S.SHELVED)]),
    ("escalation lifts a shelve", PLAIN, "raise shelve escalate", [(C.ESCALATED, S.SHELVED, S.UNACK)]),
    ("suppress", PLAIN, "raise suppress", [(C.SHELVED, S.UNACK, S.SUPPRESSED)]),
    ("unsuppress", PLAIN, "raise suppress unsuppress", [(C.UNSHELVED, S.SUPPRESSED, S.UNACK)]),
    ("born suppressed", PLAIN, "suppress raise", [(C.RAISED, S.NORMAL, S.SUPPRESSED)]),
    ("born suppressed clears without ack", LATCHING, "suppress raise clear", [(C.CLOSED, S.SUPPRESSED, S.NORMAL)]),
    ("announced then suppressed owes an ack", PLAIN, "raise suppress clear unsuppress",
     [(C.UNSHELVED, S.SUPPRESSED, S.RTN_UNACK)]),
    ("escalation stays suppressed", PLAIN, "raise suppress escalate", [(C.ESCALATED, S.SUPPRESSED, S.SUPPRESSED)]),
    ("out of service", PLAIN, "raise oos", [(C.SHELVED, S.UNACK, S.OUT_OF_SERVICE)]),
    ("return to service", PLAIN, "raise oos rts", [(C.UNSHELVED, S.OUT_OF_SERVICE, S.UNACK)]),
    ("out of service wins over suppressed", PLAIN, "raise oos suppress rts",
     [(C.UNSHELVED, S.OUT_OF_SERVICE, S.SUPPRESSED)]),
    ("out of service over shelved", PLAIN, "raise shelve oos rts", [(C.UNSHELVED, S.OUT_OF_SERVICE, S.SHELVED)]),
    ("ack out of service", PLAIN, "oos raise ack", [(C.ACKNOWLEDGED, S.OUT_OF_SERVICE, S.OUT_OF_SERVICE)]),
    ("born out of service clears", PLAIN, "oos raise clear", [(C.CLOSED, S.OUT_OF_SERVICE, S.NORMAL)]),
    ("verdict open", PLAIN, "raise verdict", [(C.VERDICT, S.UNACK, S.UNACK)]),
    ("verdict closed", PLAIN, "raise ack clear verdict", [(C.VERDICT, S.NORMAL, S.NORMAL)]),
    ("score open", PLAIN, "raise score", [(C.SCORED, S.UNACK, S.UNACK)]),
    ("score acked", PLAIN, "raise ack score", [(C.SCORED, S.ACKED, S.ACKED)]),
    ("score closed", PLAIN, "raise ack clear score", [(C.SCORED, S.NORMAL, S.NORMAL)]),
]


@pytest.mark.parametrize(("name", "kind", "script", "tail"), CASES, ids=[c[0] for c in CASES])
def test_transition(name: str, kind: AlarmKind, script: str, tail: list[tuple]) -> None:
    h = Harness()
    for step in script.split():
        STEPS[step](h, kind)
        h.advance(1)
    steps = h.steps()
    assert steps[-len(tail):] == tail
    # the stream is a chain: each transition starts where the previous one ended
    assert [s[1] for s in steps] == [S.NORMAL] + [s[2] for s in steps[:-1]]
    assert h.engine.get(_id(h)).state is steps[-1][2]


def test_every_state_and_cause_is_covered() -> None:
    reached = {to for *_, tail in CASES for (_, _, to) in tail}
    causes = {cause for *_, tail in CASES for (cause, _, _) in tail}
    assert reached == set(AlarmState)
    assert causes == set(TransitionCause) - {C.RESTORED}  # restore has its own tests

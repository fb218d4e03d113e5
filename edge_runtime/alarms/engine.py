"""The ISA-18.2 alarm lifecycle: one open alarm per (subject, condition) key.

Fusion reports conditions (:meth:`AlarmEngine.update`), people act (ack,
verdict, shelve, mute, suppress, out-of-service), :meth:`AlarmEngine.tick`
runs the timers. Every change to an alarm emits exactly one
:class:`AlarmTransition`, in order, carrying an immutable snapshot of the alarm
after the change, who (``by``, None for the engine itself), through which
channel, and when.

People act as an :class:`~edge_runtime.alarms.model.Actor`: the channel
(dashboard, mqtt, wearable) and the identity it authenticated. A condition
report carries one too when a person is behind it (a wearable's cancel press
withdrawing a panic, a zone action); the engine's own transitions have no
``by`` and the SYSTEM channel.

Only an actor who ``may_label`` gives verdicts (LabelRefused otherwise, before
anything changes); each verdict that changes the label is a revision of its
own (the store keeps them all), and the latest is the alarm's ``verdict``.

State (derived in lifecycle.derive_state, never set by hand)::

    condition  acked  latching  announced     base state
    active     no     -         -             UNACK
    active     yes    -         -             ACKED
    cleared    yes    -         -             NORMAL  (closed)
    cleared    no     -         never         NORMAL  (born hidden: nobody to ask for an ack)
    cleared    no     yes       yes           UNACK   (latched: keeps sounding until acked)
    cleared    no     no        yes           RTN_UNACK

An open alarm is shown as OUT_OF_SERVICE (its subject or key taken out of
service), else SUPPRESSED (its zone locked out by design; never a worker's
alarm), else SHELVED (by a named supervisor, with a reason, until an expiry
<= max_shelve_s), else its base state. Overlays hide; they never keep a
finished alarm open nor waive an acknowledgement owed. Lifting one returns the
alarm to the state it would have now, re-announcing it if that is UNACK.

Transitions (cause: from -> to)::

    RAISED        NORMAL -> UNACK, or an overlay   condition held for on_delay_s
    ESCALATED     open -> UNACK (hidden if suppressed/out of service)
                  higher priority, or a new kind at equal priority; priority
                  never drops while open; the alarm needs acknowledging again
                  (an ack covered the lesser condition) and a shelve is lifted
    RE_ALARMED    UNACK -> UNACK                   re_alarm_s unacknowledged, or mute ran out
                  RTN_UNACK/latched UNACK -> UNACK, SHELVED -> SHELVED: condition came back
    CLEARED       UNACK -> RTN_UNACK, or -> UNACK if latching; SHELVED -> SHELVED
                  condition gone for off_delay_s and past the deadband
    CLOSED        ACKED/overlay -> NORMAL          condition gone, nothing left to ack
    ACKNOWLEDGED  UNACK -> ACKED; RTN_UNACK/latched UNACK -> NORMAL; overlays keep theirs
                  (a verdict given with an ack is emitted as a VERDICT just before it)
    MUTED         UNACK -> UNACK                   sirens off for mute_s, then RE_ALARMED
    SHELVED       open -> SHELVED; UNSHELVED back (by a person, or expiry with by=None)
    RESTORED      stored -> derived state          after a restart; re-announces
    VERDICT       s -> s                           on open or recently closed alarms; by supervisors only
    SCORED        s -> s                           the risk model's score attached; changes nothing else

Conditions: a report must hold for its kind's on_delay_s before it raises (a
shorter flicker raises nothing) and be gone for off_delay_s, and past the
deadband on the bad side, before it clears; once cleared only an *active*
report brings it back. Fusion may raise a kind's configured priority, never
lower it. Reports that change nothing cost a few lookups and emit nothing, so
an alarm's ``value`` is the one of its latest transition, not a live reading;
while the deadband holds an alarm, fusion must keep reporting values for it
to clear.

Suppression and out-of-service have no causes of their own in the contract
yet: they travel as SHELVED/UNSHELVED with ``extra["overlay"]`` set to
``"suppressed"`` or ``"out_of_service"`` (to_state tells them apart).
``extra["announce"]`` is True on every transition that must alert people;
``extra["reason"]`` says why a RE_ALARMED happened.

Time: everything runs on the injected clock (deadlines must share tick()'s
time base; ConditionUpdate.ts may come from a skewed device). Not thread-safe:
call it from the event loop only.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, cast

from edge_runtime.alarms.conditions import ConditionHandler
from edge_runtime.alarms.deadlines import Timer
from edge_runtime.alarms.errors import AlarmError, AlarmRequestError, LabelRefused, UnknownAlarm
from edge_runtime.alarms.flood import FloodSummary, FloodTracker
from edge_runtime.alarms.ids import AlarmIdFactory
from edge_runtime.alarms.ledger import AlarmLedger
from edge_runtime.alarms.lifecycle import NOT_SHELVED, AlarmRecord, derive_state, evolve
from edge_runtime.alarms.model import (
    Actor,
    Alarm,
    AlarmState,
    AlarmTransition,
    ConditionUpdate,
    TransitionCause,
    Verdict,
)
from edge_runtime.alarms.overlays import Key, Overlay, Overlays, ServiceTarget

if TYPE_CHECKING:
    from edge_runtime.config.alarms import AlarmSettings

__all__ = ["AlarmEngine", "AlarmError", "AlarmRequestError", "FloodSummary", "LabelRefused", "UnknownAlarm"]

_C = TransitionCause
_S = AlarmState


def _require(value: str | None, name: str) -> None:
    if not value or not value.strip():
        raise AlarmRequestError(f"{name} is required")


def _require_labeller(actor: Actor) -> None:
    if not actor.may_label:
        raise LabelRefused(
            f"{actor.identity} ({actor.channel.value}) may not label alarms: only supervisors give verdicts"
        )


class AlarmEngine:
    """The single owner of alarm state; see the module docstring for the state machine."""

    def __init__(
        self,
        settings: AlarmSettings,
        on_transition: Callable[[AlarmTransition], None],
        *,
        mute_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] | None = None,
        closed_history: int = 1000,
    ) -> None:
        if mute_s <= 0:
            raise ValueError("mute_s must be > 0")
        new_id = new_id or AlarmIdFactory(clock)
        self._classes = dict(settings.classes)
        self._max_shelve_s = settings.max_shelve_s
        self._mute_s = mute_s
        self._clock = clock
        self._ledger = AlarmLedger(on_transition, closed_history)
        self._flood = FloodTracker(settings.flood, new_id)
        self._overlays = Overlays()
        self._conditions = ConditionHandler(self._ledger, self._classes, self._overlays, self._flood, clock, new_id)

    def update(self, update: ConditionUpdate) -> None:
        """Apply fusion's latest report for one (subject, condition) key."""
        self._conditions.update(update)

    # ------------------------------------------------------------------ people

    def acknowledge(
        self, alarm_id: str, actor: Actor, note: str | None = None, verdict: Verdict | None = None,
        ts: float | None = None,
    ) -> Alarm:
        """Acknowledge an alarm; repeating it (MQTT QoS 1 redelivers) is harmless.

        A verdict given with the ack is its own VERDICT transition, emitted
        first (while the alarm is surely still open), so training labels always
        arrive the same way; from an actor who may not label, the whole request
        is refused (LabelRefused) and nothing changes.
        """
        now = self._clock() if ts is None else ts
        if verdict:
            _require_labeller(actor)
            self._set_verdict(alarm_id, verdict, actor, note, now)
        rec = self._ledger.open.get(alarm_id)
        if rec is None or rec.alarm.acked_ts is not None:
            return self.get(alarm_id)
        return self._ledger.commit(
            rec, _C.ACKNOWLEDGED, now, actor=actor, note=note,
            acked_by=actor.identity, acked_via=actor.channel, acked_ts=now,
        )

    def set_verdict(self, alarm_id: str, verdict: Verdict, actor: Actor, note: str | None = None) -> Alarm:
        """Label an alarm confirmed / false alarm (training data); closed alarms too, while kept.

        Supervisors only (LabelRefused otherwise). A different verdict is a new
        revision and becomes the label; the same one again changes nothing.
        """
        _require_labeller(actor)
        return self._set_verdict(alarm_id, verdict, actor, note, self._clock())

    def _set_verdict(self, alarm_id: str, verdict: Verdict, actor: Actor, note: str | None, now: float) -> Alarm:
        verdict = Verdict(verdict)
        rec = self._ledger.open.get(alarm_id)
        if rec is None:
            return self._ledger.label_closed(alarm_id, verdict, actor, note, now)
        if rec.alarm.verdict is verdict:
            return rec.alarm
        return self._ledger.commit(rec, _C.VERDICT, now, actor=actor, note=note, verdict=verdict)

    def score(self, alarm_id: str, score: float, model: Mapping[str, str]) -> Alarm:
        """Attach the risk model's score to an alarm (open, or closed and still kept): a SCORED transition.

        A score never changes an alarm's state, priority or who is told: a
        learned model may rank alarms, never quieten one.
        """
        if not 0.0 <= score <= 1.0:
            raise AlarmRequestError(f"a risk score is a probability, not {score!r}")
        now = self._clock()
        rec = self._ledger.open.get(alarm_id)
        if rec is None:
            return self._ledger.amend_closed(self._ledger.get(alarm_id), _C.SCORED, now, None,
                                             risk_score=score, risk_model=dict(model))
        return self._ledger.commit(rec, _C.SCORED, now, risk_score=score, risk_model=dict(model))

    def shelve(self, alarm_id: str, actor: Actor, duration_s: float, reason: str) -> Alarm:
        """Hide an open alarm until ``duration_s`` from now (at most max_shelve_s)."""
        _require(reason, "reason")
        if not 0 < duration_s <= self._max_shelve_s:
            raise AlarmRequestError(f"shelve duration must be in (0, {self._max_shelve_s:g}] s, got {duration_s!r}")
        rec = self._ledger.open_record(alarm_id)
        now = self._clock()
        until = now + duration_s
        shelved = self._ledger.commit(
            rec, _C.SHELVED, now, actor=actor, note=reason,
            shelved_by=actor.identity, shelved_via=actor.channel, shelved_until=until, shelve_reason=reason,
        )
        self._ledger.deadlines.push(until, Timer.SHELVE, alarm_id)
        return shelved

    def unshelve(self, alarm_id: str, actor: Actor) -> Alarm:
        rec = self._ledger.open_record(alarm_id)
        if rec.alarm.shelved_until is None:
            raise AlarmRequestError(f"alarm {alarm_id} is not shelved")
        return self._ledger.commit(rec, _C.UNSHELVED, self._clock(), actor=actor, **NOT_SHELVED)

    def mute(self, alarm_id: str, actor: Actor) -> Alarm:
        """Silence an unacknowledged alarm for mute_s; it re-alarms then unless acknowledged."""
        rec = self._ledger.open_record(alarm_id)
        if rec.alarm.state is not _S.UNACK:
            raise AlarmRequestError(f"only an unacknowledged alarm sounds; {alarm_id} is {rec.alarm.state.value}")
        now = self._clock()
        until = now + self._mute_s
        muted = self._ledger.commit(rec, _C.MUTED, now, actor=actor, muted_until=until)
        rec.realarm_due = None  # the mute's own expiry re-alarms
        self._ledger.deadlines.push(until, Timer.MUTE, alarm_id)
        return muted

    def suppress_zone(self, zone: str, actor: Actor, reason: str) -> list[Alarm]:
        """Lock a zone out: hide its zone and device alarms (never workers'); returns those changed."""
        _require(reason, "reason")
        now = self._clock()
        self._overlays.suppress(zone, Overlay(actor, reason, now))
        return self._reapply_overlays(_C.SHELVED, "suppressed", now, actor, reason)

    def unsuppress_zone(self, zone: str, actor: Actor) -> list[Alarm]:
        if not self._overlays.unsuppress(zone):
            return []
        return self._reapply_overlays(_C.UNSHELVED, "suppressed", self._clock(), actor, None)

    def set_out_of_service(self, target: ServiceTarget, actor: Actor, reason: str) -> list[Alarm]:
        """Take a whole subject, or one (subject, condition) key, out of service."""
        _require(reason, "reason")
        now = self._clock()
        self._overlays.take_out(target, Overlay(actor, reason, now))
        return self._reapply_overlays(_C.SHELVED, "out_of_service", now, actor, reason)

    def return_to_service(self, target: ServiceTarget, actor: Actor) -> list[Alarm]:
        if not self._overlays.put_back(target):
            return []
        return self._reapply_overlays(_C.UNSHELVED, "out_of_service", self._clock(), actor, None)

    def _reapply_overlays(
        self, cause: TransitionCause, overlay: str, now: float, actor: Actor, note: str | None
    ) -> list[Alarm]:
        """Overlay switches are rare: a scan of the open alarms is fine here."""
        changed = []
        for rec in list(self._ledger.open.values()):
            alarm = rec.alarm
            suppressed = self._overlays.suppresses(alarm.subject, alarm.zone)
            out_of_service = self._overlays.is_out_of_service(alarm.key)
            if (suppressed, out_of_service) == (rec.suppressed, rec.out_of_service):
                continue
            rec.suppressed, rec.out_of_service = suppressed, out_of_service
            if derive_state(alarm, suppressed=suppressed, out_of_service=out_of_service) is not alarm.state:
                changed.append(self._ledger.commit(rec, cause, now, actor=actor, note=note, extra={"overlay": overlay}))
        return changed

    # ------------------------------------------------------------------ time

    def tick(self, now: float | None = None) -> None:
        """Run what is due: on/off delays, re-alarms, mute and shelve expiries. Pops only due deadlines."""
        now = self._clock() if now is None else now
        ledger = self._ledger
        while (item := ledger.deadlines.pop_due(now)) is not None:
            due, timer, target = item
            if timer is Timer.ON_DELAY:
                self._conditions.on_delay_due(cast(Key, target), due, now)
                continue
            rec = ledger.open.get(cast(str, target))  # every other timer targets an alarm id
            if rec is None:
                continue  # stale: the alarm closed since
            if timer is Timer.OFF_DELAY and rec.clear_due == due:
                self._conditions.clear(rec, now)
            elif timer is Timer.RE_ALARM and rec.realarm_due == due:
                ledger.commit(rec, _C.RE_ALARMED, now, extra={"reason": "re_alarm"})
            elif timer is Timer.MUTE and rec.alarm.muted_until == due:
                ledger.commit(rec, _C.RE_ALARMED, now, extra={"reason": "mute_expired"})
            elif timer is Timer.SHELVE and rec.alarm.shelved_until == due:
                ledger.commit(rec, _C.UNSHELVED, now, note="shelve expired", **NOT_SHELVED)
        self._flood.expire(now)

    # ------------------------------------------------------------------ restart

    def restore(self, alarms: Iterable[Alarm]) -> list[Alarm]:
        """Reload open alarms after a restart (before fusion starts) and re-announce each.

        Ids, states and acknowledgements are kept; overlays come from this
        engine (apply suppressions and out-of-service first). Mutes do not
        survive a restart: the RESTORED announcement supersedes them. Of two
        open records for one key the more urgent stays open, the other closes.
        """
        now = self._clock()
        ledger = self._ledger
        restored = []
        for stored in sorted(alarms, key=lambda a: (-a.priority, a.raised_ts)):
            if stored.state is _S.NORMAL or stored.alarm_id in ledger.open or stored.alarm_id in ledger.closed:
                continue
            if stored.key in ledger.by_key:
                ledger.retire(stored, now, "duplicate open alarm for its key on restore")
                continue
            # A stored open alarm was shown to someone, even if the store did not keep when.
            announced = stored.raised_ts if stored.last_announced_ts is None else stored.last_announced_ts
            alarm = evolve(stored, last_announced_ts=announced)
            rec = AlarmRecord(
                alarm, self._classes[alarm.kind], {alarm.kind},
                self._overlays.suppresses(alarm.subject, alarm.zone), self._overlays.is_out_of_service(alarm.key),
            )
            ledger.add(rec)
            if alarm.shelved_until is not None:
                ledger.deadlines.push(alarm.shelved_until, Timer.SHELVE, alarm.alarm_id)
            restored.append(ledger.commit(rec, _C.RESTORED, now, muted_until=None))
        return restored

    # ------------------------------------------------------------------ queries

    def get(self, alarm_id: str) -> Alarm:
        """An open alarm, or a closed one still kept; raises UnknownAlarm otherwise."""
        return self._ledger.get(alarm_id)

    def active(self) -> list[Alarm]:
        """Open alarms (any state but NORMAL), most urgent first, then oldest first."""
        alarms = (rec.alarm for rec in self._ledger.open.values())
        return sorted(alarms, key=lambda a: (-a.priority, a.raised_ts, a.alarm_id))

    def by_key(self, key: Key) -> Alarm | None:
        """The open alarm for a (subject, condition) key, if any."""
        rec = self._ledger.by_key.get(key)
        return rec.alarm if rec is not None else None

    @property
    def flood_active(self) -> bool:
        return self._flood.active

    def flood_summary(self) -> FloodSummary | None:
        """The flood in progress (its open alarms counted by priority, highest first), or None."""
        open_ = self._ledger.open
        return self._flood.summary(open_[i].alarm for i in self._flood.members if i in open_)

    @property
    def suppressed_zones(self) -> Mapping[str, Overlay]:
        """Zones locked out, with who, why and when (read-only: for the dashboard and for persisting)."""
        return self._overlays.suppressed_zones

    @property
    def out_of_service_targets(self) -> Mapping[ServiceTarget, Overlay]:
        """Subjects and keys out of service, with who, why and when (read-only)."""
        return self._overlays.out_of_service

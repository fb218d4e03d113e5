"""``/alarms``: the open alarms, and what supervisors do to them (ack, verdict, shelve).

Every action goes straight to the alarm engine, on the loop (it is the alarm
path and takes microseconds), as the signed-in account on the dashboard
channel (:func:`session_actor`); the engine's transition then reaches MQTT
and SQLite as an MQTT ack would. The functions below the handlers take the
engine and an :class:`Actor`, so they can be used and tested without HTTP.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from aiohttp import web

from cloud_sync.contract.records import AlarmRecord
from edge_runtime.alarms.engine import AlarmEngine, AlarmRequestError, FloodSummary, LabelRefused, UnknownAlarm
from edge_runtime.alarms.model import Actor, Alarm, Channel, Verdict
from edge_runtime.alarms.rules import can_acknowledge
from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session
from web_common.sessions import Session

from .history import read, stored_alarm
from .keys import DAEMON
from .roles import Role
from .schemas import AckIn, AlarmList, FloodOut, ShelveIn, VerdictIn

if TYPE_CHECKING:
    from .runtime import DashboardRuntime

_ERRORS = (404, 409)


def register(api: ApiRegistry) -> None:
    """Declares the alarm endpoints on ``api``."""

    @api.route("GET", "/alarms", role=Role.VIEWER, summary="Open alarms, most urgent first", tag="alarms",
               response=AlarmList)
    async def list_alarms(request: web.Request) -> AlarmList:
        """Open alarms by priority (highest first), then newest first, with the flood in progress."""
        return open_alarms(_daemon(request).alarms)

    @api.route("GET", "/alarms/{alarm_id}", role=Role.VIEWER, summary="One alarm, open or closed", tag="alarms",
               response=AlarmRecord, errors=(404,))
    async def get_alarm(request: web.Request, alarm_id: str) -> AlarmRecord:
        daemon = _daemon(request)
        try:
            return alarm_out(daemon.alarms.get(alarm_id))
        except UnknownAlarm:
            stored = await read(daemon.config.storage.path, lambda conn: stored_alarm(conn, alarm_id))
        if stored is None:
            raise ApiError(404, f"unknown alarm {alarm_id!r}")
        return stored

    @api.route("POST", "/alarms/{alarm_id}/ack", role=Role.SUPERVISOR, summary="Acknowledge an alarm",
               tag="alarms", body=AckIn, response=AlarmRecord, errors=_ERRORS)
    async def ack(request: web.Request, alarm_id: str, body: AckIn) -> AlarmRecord:
        """Acknowledge as the signed-in supervisor, optionally with a verdict and a note."""
        return acknowledge(_daemon(request).alarms, alarm_id, _actor(request), body)

    @api.route("POST", "/alarms/{alarm_id}/verdict", role=Role.SUPERVISOR, summary="Confirm or mark a false alarm",
               tag="alarms", body=VerdictIn, response=AlarmRecord, errors=_ERRORS)
    async def verdict(request: web.Request, alarm_id: str, body: VerdictIn) -> AlarmRecord:
        """Label an open or recently closed alarm: the training label for the cloud."""
        return give_verdict(_daemon(request).alarms, alarm_id, _actor(request), body)

    @api.route("POST", "/alarms/{alarm_id}/shelve", role=Role.SUPERVISOR, summary="Shelve an alarm", tag="alarms",
               body=ShelveIn, response=AlarmRecord, errors=(*_ERRORS, 422))
    async def shelve(request: web.Request, alarm_id: str, body: ShelveIn) -> AlarmRecord:
        """Hide an open alarm for a while, with a reason; it comes back by itself at the end."""
        daemon = _daemon(request)
        longest = daemon.config.alarms.max_shelve_s
        if body.duration_s > longest:
            raise ApiError(422, "invalid body", [f"body.duration_s: this site shelves for at most {longest:g} s"])
        return shelve_alarm(daemon.alarms, alarm_id, _actor(request), body)

    @api.route("POST", "/alarms/{alarm_id}/unshelve", role=Role.SUPERVISOR, summary="Unshelve an alarm",
               tag="alarms", response=AlarmRecord, errors=_ERRORS)
    async def unshelve(request: web.Request, alarm_id: str) -> AlarmRecord:
        with refusals():
            return alarm_out(_daemon(request).alarms.unshelve(alarm_id, _actor(request)))


def open_alarms(engine: AlarmEngine) -> AlarmList:
    alarms = sorted(engine.active(), key=lambda a: (-a.priority, -a.raised_ts, a.alarm_id))
    return AlarmList(alarms=[alarm_out(a) for a in alarms], flood=flood_out(engine.flood_summary()))


def flood_out(flood: FloodSummary | None) -> FloodOut:
    """What the page shows of a flood: how many alarms, and the open ones per priority."""
    if flood is None:
        return FloodOut(active=False)
    open_counts = ", ".join(f"{n} {p.name.lower()}" for p, n in flood.open_by_priority.items() if n)
    return FloodOut(
        active=True, group=flood.group, count=flood.raised, since=flood.started_ts,
        summary=f"Alarm flood: {flood.raised} alarm{'s' if flood.raised != 1 else ''} raised; "
                f"open: {open_counts or 'none'}",
    )


def session_actor(session: Session) -> Actor:
    """A signed-in account acting on the dashboard channel; supervisors and admins label alarms."""
    return Actor(Channel.DASHBOARD, session.name, may_label=session.role >= Role.SUPERVISOR)


def acknowledge(engine: AlarmEngine, alarm_id: str, actor: Actor, body: AckIn) -> AlarmRecord:
    """Acknowledge (with an optional verdict): 409 unless the alarm waits for an acknowledgement."""
    with refusals():
        alarm = engine.get(alarm_id)
        if not can_acknowledge(alarm):  # as the MQTT ack handler (daemon._on_ack)
            hint = [f"give a verdict with POST /api/v1/alarms/{alarm_id}/verdict"] if body.verdict else []
            state = alarm.state.value
            raise ApiError(409, f"alarm {alarm_id} is {state}: only an unacknowledged alarm can be acknowledged", hint)
        verdict = Verdict(body.verdict) if body.verdict else None
        return alarm_out(engine.acknowledge(alarm_id, actor, note=body.note, verdict=verdict))


def give_verdict(engine: AlarmEngine, alarm_id: str, actor: Actor, body: VerdictIn) -> AlarmRecord:
    with refusals():
        return alarm_out(engine.set_verdict(alarm_id, Verdict(body.verdict), actor, note=body.note))


def shelve_alarm(engine: AlarmEngine, alarm_id: str, actor: Actor, body: ShelveIn) -> AlarmRecord:
    with refusals():
        return alarm_out(engine.shelve(alarm_id, actor, body.duration_s, body.reason))


def alarm_out(alarm: Alarm) -> AlarmRecord:
    return alarm.record()


@contextmanager
def refusals() -> Iterator[None]:
    """The engine's refusals as API errors: a verdict from someone who may not label 403, an unknown id
    404, a state that forbids the action 409."""
    try:
        yield
    except LabelRefused as exc:
        raise ApiError(403, str(exc)) from None
    except UnknownAlarm as exc:
        raise ApiError(404, str(exc)) from None
    except AlarmRequestError as exc:
        raise ApiError(409, str(exc)) from None


def _actor(request: web.Request) -> Actor:
    return session_actor(current_session(request))


def _daemon(request: web.Request) -> DashboardRuntime:
    return cast("DashboardRuntime", request.app[DAEMON])

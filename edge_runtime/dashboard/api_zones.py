"""``/zones/.../actions``: supervisors sound and silence sirens, order and end evacuations.

The work is :class:`~.zone_actions.ZoneActions`' (its alarm part
:class:`edge_runtime.alarms.zone_actions.ZoneAlarmActions`); this module maps HTTP onto it
and its refusals onto status codes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiohttp import web

from edge_runtime.alarms.zone_actions import UnknownZone, ZoneActionRefused
from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session

from .api_alarms import session_actor
from .api_history import query_window
from .keys import DASHBOARD
from .roles import Role
from .schemas import ZoneActionIn, ZoneActionList, ZoneActionOut, ZoneActionQuery
from .zone_actions import ZoneActionNotRecorded, ZoneActions

if TYPE_CHECKING:
    from . import Dashboard


def register(api: ApiRegistry) -> None:
    """Declares the zone-action endpoints on ``api``."""

    @api.route("POST", "/zones/{zone_id}/actions", role=Role.SUPERVISOR, summary="Run a zone action", tag="zones",
               body=ZoneActionIn, response=ZoneActionOut, status=201, errors=(404, 409, 503))
    async def run_action(request: web.Request, zone_id: str, body: ZoneActionIn) -> ZoneActionOut:
        """siren_on / siren_off / evacuate / all_clear, recorded as the signed-in supervisor (dashboard channel).

        siren_off ends a siren sounded by hand and mutes the alarms sounding it
        (they stay open); all_clear ends an evacuation ordered by hand only:
        one ordered by gas detectors lasts until the gas is gone (409).
        """
        try:
            actor = session_actor(current_session(request))
            return await _zone_actions(request).run(zone_id, body.action, actor, body.note)
        except UnknownZone as exc:
            raise ApiError(404, str(exc)) from None
        except ZoneActionRefused as exc:
            raise ApiError(409, str(exc)) from None
        except ZoneActionNotRecorded as exc:
            raise ApiError(503, str(exc)) from None

    @api.route("GET", "/zones/actions", role=Role.VIEWER, summary="Zone actions in a window, newest first",
               tag="zones", query=ZoneActionQuery, response=ZoneActionList)
    async def list_actions(request: web.Request, query: ZoneActionQuery) -> ZoneActionList:
        window = query_window(request, query.since, query.until, query.shift, query.date)
        return await _zone_actions(request).list(window.since, window.until, query.zone, query.limit)


def _zone_actions(request: web.Request) -> ZoneActions:
    return cast("Dashboard", request.app[DASHBOARD]).zone_actions

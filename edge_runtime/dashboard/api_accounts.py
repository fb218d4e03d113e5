"""``/api/v1/accounts``: admins list, add and remove the accounts kept in the edge database.

Site-file accounts are listed but read-only here. Account calls hash
passwords and touch SQLite, so they run in a thread, off the event loop.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from aiohttp import web

from web_common.api import ApiError, ApiRegistry
from web_common.security import current_session

from .accounts import Account, AccountExists, AccountNotFound, AccountReadOnly
from .keys import DASHBOARD
from .roles import Role
from .schemas import AccountIn, AccountList, AccountOut, RoleName

if TYPE_CHECKING:
    from . import Dashboard

log = logging.getLogger(__name__)


def register(api: ApiRegistry) -> None:
    api.route("GET", "/accounts", role=Role.ADMIN, summary="Every dashboard account", tag="accounts",
              response=AccountList)(list_accounts)
    api.route("POST", "/accounts", role=Role.ADMIN, summary="Add an account", tag="accounts",
              body=AccountIn, response=AccountOut, status=201, errors=(409,))(add_account)
    api.route("DELETE", "/accounts/{name}", role=Role.ADMIN, summary="Remove an account", tag="accounts",
              status=204, errors=(404, 409))(remove_account)


async def list_accounts(request: web.Request) -> AccountList:
    """Site-file and database accounts, by name (``source`` tells which)."""
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    accounts = await asyncio.to_thread(dashboard.accounts.list)
    return AccountList(accounts=[_account_out(a) for a in accounts])


async def add_account(request: web.Request, body: AccountIn) -> AccountOut:
    """Adds a database account; 409 if the name is taken (in the site file or the database)."""
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    try:
        account = await asyncio.to_thread(
            dashboard.accounts.add, body.name, Role.parse(body.role), body.password, body.display_name
        )
    except AccountExists as exc:
        raise ApiError(409, str(exc)) from None
    log.info("dashboard account added", extra={"account": account.name, "role": body.role,
                                               "by": current_session(request).name})
    return _account_out(account)


async def remove_account(request: web.Request, name: str) -> None:
    """Removes a database account and ends its sessions; site-file accounts answer 409."""
    dashboard: Dashboard = request.app[DASHBOARD]  # type: ignore[assignment]
    try:
        await asyncio.to_thread(dashboard.accounts.remove, name)
    except AccountNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except AccountReadOnly as exc:
        raise ApiError(409, str(exc)) from None
    dashboard.sessions.drop_user(name)
    log.info("dashboard account removed", extra={"account": name, "by": current_session(request).name})


def _account_out(account: Account) -> AccountOut:
    return AccountOut(name=account.name, display_name=account.display_name, role=cast(RoleName, account.role.label),
                      source=account.source)

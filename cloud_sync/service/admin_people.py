"""``/api/v1/accounts`` and ``/api/v1/tokens``: admins manage who may use the admin API.

An API token is shown once, in the answer that creates it; listing shows
only its id, label and role. Creating an account hashes its password (argon2),
so every call runs in a thread; a taken name is 409, an unknown one 404
(errors.py).
"""
from __future__ import annotations

import asyncio
import logging
from typing import cast

from aiohttp import web

from cloud_sync.registry.accounts import Account
from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiToken, IssuedToken
from web_common.api import ApiRegistry
from web_common.security import current_session

from .keys import ACCOUNTS, TOKENS
from .schemas import AccountIn, AccountList, AccountOut, RoleName, TokenIn, TokenList

log = logging.getLogger(__name__)


def register(api: ApiRegistry[Role]) -> None:
    admin = {"role": Role.ADMIN}
    api.route("GET", "/accounts", summary="Every admin account", tag="accounts", response=AccountList,
              **admin)(list_accounts)
    api.route("POST", "/accounts", summary="Add an admin account", tag="accounts", body=AccountIn,
              response=AccountOut, status=201, errors=(409,), **admin)(add_account)
    api.route("DELETE", "/accounts/{name}", summary="Remove an admin account", tag="accounts", status=204,
              errors=(404,), **admin)(remove_account)
    api.route("GET", "/tokens", summary="Every API token (never the secret)", tag="tokens", response=TokenList,
              **admin)(list_tokens)
    api.route("POST", "/tokens", summary="Create an API token", tag="tokens", body=TokenIn,
              response=IssuedToken, status=201, **admin)(create_token)
    api.route("DELETE", "/tokens/{token_id}", summary="Revoke an API token", tag="tokens", response=ApiToken,
              errors=(404,), **admin)(revoke_token)


async def list_accounts(request: web.Request) -> AccountList:
    accounts = await asyncio.to_thread(request.app[ACCOUNTS].list)
    return AccountList(accounts=[_account_out(a) for a in accounts])


async def add_account(request: web.Request, body: AccountIn) -> AccountOut:
    """Adds an account; 409 if the name is taken."""
    account = await asyncio.to_thread(request.app[ACCOUNTS].add, body.name, Role.parse(body.role), body.password,
                                      body.display_name)
    log.info("cloud account added", extra={"account": account.name, "by": current_session(request).name})
    return _account_out(account)


async def remove_account(request: web.Request, name: str) -> None:
    """Removes the account and ends its sessions at once."""
    await asyncio.to_thread(request.app[ACCOUNTS].remove, name)
    log.info("cloud account removed", extra={"account": name, "by": current_session(request).name})


async def list_tokens(request: web.Request) -> TokenList:
    return TokenList(tokens=await asyncio.to_thread(request.app[TOKENS].list))


async def create_token(request: web.Request, body: TokenIn) -> IssuedToken:
    """A token for ``Authorization: Bearer``; its ``token`` is in this answer only."""
    by = current_session(request).name
    issued = await asyncio.to_thread(request.app[TOKENS].create, body.label, Role.parse(body.role), by)
    log.info("cloud API token created", extra={"token": issued.id, "role": issued.role, "by": by})
    return issued


async def revoke_token(request: web.Request, token_id: str) -> ApiToken:
    """Refuses the token from the next request on."""
    return await asyncio.to_thread(request.app[TOKENS].revoke, token_id)


def _account_out(account: Account) -> AccountOut:
    return AccountOut(name=account.name, display_name=account.display_name, role=cast(RoleName, account.role.label))

"""Roles of the cloud's admins, ordered: each can do everything the ones below it can."""
from __future__ import annotations

from web_common.roles import OrderedRole


class Role(OrderedRole):
    VIEWER = 1  # reads the fleet, sync history, definitions and datasets
    OPERATOR = 2  # also registers and changes devices, their credentials and data definitions
    ADMIN = 3  # also manages admin accounts and API tokens

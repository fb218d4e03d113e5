"""Dashboard roles, ordered: each can do everything the ones below it can."""
from __future__ import annotations

from web_common.roles import OrderedRole


class Role(OrderedRole):
    VIEWER = 1  # watches: map, alarms, cameras, history
    SUPERVISOR = 2  # also acknowledges, gives verdicts, shelves, runs zone actions
    ADMIN = 3  # also manages accounts

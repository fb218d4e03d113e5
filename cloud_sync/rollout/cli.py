"""``siteguard cloud rollout create|list|show|promote|pause|resume|rollback`` and ``siteguard cloud pin
set|clear|list``: rollouts and pins through a running service's admin API (``--url``, an admin
``--token`` or ``$SITEGUARD_CLOUD_TOKEN``), exactly what the console does.

``create`` and ``show`` print the rollout as JSON; ``list`` a table. Exit
status 0 done, 1 refused (the service's reason on stderr), 2 bad usage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from cloud_sync.model_registry.client import TOKEN_ENV
from cloud_sync.service.settings import DEFAULT_PORT

from .client import CallFailed, call
from .records import SCOPES
from .states import ACTIONS

EXIT_REFUSED = 1
Subparsers = argparse._SubParsersAction  # argparse names no public type for it
Command = Callable[[argparse.Namespace, Callable[..., Any]], int]


def add_commands(sub: Subparsers) -> None:
    """``rollout`` and ``pin`` under ``sub`` (the ``siteguard cloud`` subcommands)."""
    rollout = sub.add_parser("rollout", help="model rollouts: canaries, promotion, rollback").add_subparsers(
        dest="rollout_command", required=True)
    p = _leaf(rollout, "create", cmd_create, "start a rollout of a registered version (canaries first)")
    p.add_argument("--slot", required=True, choices=["camera", "risk"])
    p.add_argument("--model", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--baseline", default=None, help="given back on halt or rollback (default: what targets run)")
    p.add_argument("--site", action="append", default=[], help="target a site (repeatable)")
    p.add_argument("--type", action="append", default=[], dest="device_type", help="target a device type")
    p.add_argument("--device", action="append", default=[], help="target a device id (repeatable)")
    p.add_argument("--profile", default=None, help='hardware-profile fields as JSON, e.g. {"accelerator": "cuda"}')
    p.add_argument("--canary-share", type=float, default=0.1)
    p.add_argument("--canary", action="append", default=[], dest="canaries",
                   help="a device to take as a canary first (repeat for more)")
    p.add_argument("--healthy-period", type=float, default=600.0, help="seconds every canary runs it healthy")
    p.add_argument("--min-confirmed", type=int, default=1, help="confirmed alarms the canaries must see with it")
    p.add_argument("--shadow", type=float, default=60.0, help="seconds of shadow run on the device")
    p.add_argument("--watch", type=float, default=120.0, help="seconds the device watches after the switch")
    p.add_argument("--latency-budget-ms", type=float, default=None)
    _leaf(rollout, "list", cmd_list, "list rollouts, newest first")
    _leaf(rollout, "show", cmd_show, "a rollout with its devices and events (JSON)").add_argument("rollout_id")
    for action in ACTIONS:
        p = _leaf(rollout, action, _action(action), f"{action} a rollout")
        p.add_argument("rollout_id")
        p.add_argument("--reason", default=None)

    pin = sub.add_parser("pin", help="desired versions per device or group, outside rollouts").add_subparsers(
        dest="pin_command", required=True)
    p = _leaf(pin, "set", cmd_pin_set, "pin a version for a device, device type, hardware profile or site")
    _pin_place(p)
    p.add_argument("--model", required=True)
    p.add_argument("--version", required=True)
    _pin_place(_leaf(pin, "clear", cmd_pin_clear, "remove a pin"))
    _leaf(pin, "list", cmd_pin_list, "list pins")


def _leaf(group: Subparsers, name: str, func: Command, help: str) -> argparse.ArgumentParser:
    p = group.add_parser(name, help=help)
    p.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the service")
    p.add_argument("--token", default=None, help=f"an admin API token (default: ${TOKEN_ENV})")
    p.set_defaults(func=lambda args: _run(args, func))
    return p


def _pin_place(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slot", required=True, choices=["camera", "risk"])
    p.add_argument("--scope", required=True, choices=list(SCOPES))
    p.add_argument("--key", required=True, help="the device id, device type or site; for profile, its fields as JSON")


def _run(args: argparse.Namespace, func: Command) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        return _refused(f"pass --token or set {TOKEN_ENV}")

    def api(method: str, path: str, body: Any = None, **query: str) -> Any:
        return call(args.url, token, method, path, body, query=query or None)

    try:
        return func(args, api)
    except CallFailed as exc:
        return _refused(str(exc))
    except ValueError as exc:  # bad JSON in --profile or --key
        return _refused(str(exc))


def cmd_create(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    target: dict[str, Any] = {"sites": args.site, "device_types": args.device_type, "devices": args.device}
    if args.profile:
        target["profile"] = json.loads(args.profile)
    body = {"slot": args.slot, "model": args.model, "version": args.version, "baseline_version": args.baseline,
            "target": target, "canary_share": args.canary_share, "canaries": args.canaries,
            "healthy_period_s": args.healthy_period,
            "min_confirmed_alarms": args.min_confirmed, "shadow_s": args.shadow, "watch_s": args.watch,
            "latency_budget_ms": args.latency_budget_ms}
    created = api("POST", "/rollouts", body)
    _say(f"rollout {created['id']} of {created['model']} {created['version']}: {created['progress']['targets']} "
         f"targets, canaries {', '.join(created['canary_devices'])}")
    print(json.dumps(created, indent=2))
    return 0


def cmd_list(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    print(table(api("GET", "/rollouts")["rollouts"]))
    return 0


def cmd_show(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    print(json.dumps(api("GET", f"/rollouts/{args.rollout_id}"), indent=2))
    return 0


def _action(action: str) -> Command:
    def act(args: argparse.Namespace, api: Callable[..., Any]) -> int:
        done = api("POST", f"/rollouts/{args.rollout_id}/{action}", {"reason": args.reason})
        _say(f"rollout {done['id']} is {done['state']}")
        return 0

    return act


def cmd_pin_set(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    place: dict[str, Any] = ({"profile": json.loads(args.key)} if args.scope == "profile" else {"key": args.key})
    pin = api("PUT", "/pins", {"slot": args.slot, "scope": args.scope, **place, "model": args.model,
                               "version": args.version})
    _say(f"pinned {pin['model']} {pin['version']} for {pin['scope']} {pin['key']} ({pin['slot']})")
    return 0


def cmd_pin_clear(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    key = json.dumps(json.loads(args.key), sort_keys=True, separators=(",", ":")) if args.scope == "profile" \
        else args.key
    api("DELETE", "/pins", slot=args.slot, scope=args.scope, key=key)
    _say(f"removed the {args.scope} pin {key} ({args.slot})")
    return 0


def cmd_pin_list(args: argparse.Namespace, api: Callable[..., Any]) -> int:
    for pin in api("GET", "/pins")["pins"]:
        print(f"{pin['slot']}\t{pin['scope']}\t{pin['key']}\t{pin['model']}\t{pin['version']}\t{pin['set_by']}")
    return 0


def table(rollouts: list[dict[str, Any]]) -> str:
    header = ("ID", "SLOT", "MODEL", "VERSION", "BASELINE", "STATE", "CANARIES", "HEALTHY", "CONFIRMED", "CREATED (UTC)")
    rows = [header] + [(
        r["id"], r["slot"], r["model"], r["version"], r["baseline_version"] or "-", r["state"],
        ",".join(r["canary_devices"]), f"{r['progress']['canary_healthy']}/{r['progress']['canary_total']}",
        f"{r['progress']['confirmed']}/{r['progress']['min_confirmed_alarms']}",
        datetime.fromtimestamp(r["created_ts"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")) for r in rollouts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _refused(message: str) -> int:
    print(f"refused: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _say(message: str) -> None:
    print(message, file=sys.stderr)

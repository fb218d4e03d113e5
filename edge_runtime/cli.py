"""`siteguard` command line: a thin shell over the library (sqlite-utils style)."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from edge_runtime.accounts_cli import add_accounts_parser
from edge_runtime.broker_cli import add_broker_parser
from edge_runtime.cli_support import EXIT_CONFIG, load_site
from edge_runtime.config import SiteConfig
from edge_runtime.logs import setup_logging
from edge_runtime.vision.infer_cli import add_infer_parser
from firmware_bridge.decode_cli import add_decode_parser

GIL_SWITCH_INTERVAL_S = 0.001  # CPython's default is 0.005


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or args.config
    config = load_site(path)
    if config is None:
        return EXIT_CONFIG
    print(
        f"{path}: OK — site {config.site.id}: {len(config.workers)} workers, {len(config.zones)} zones, "
        f"{len(config.detectors)} detectors, {len(config.serial)} serial ports"
    )
    return 0


async def run_daemon(config: SiteConfig) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (flushes storage, offline status)."""
    from edge_runtime.daemon import EdgeDaemon

    # paho's network thread sends the alerts the loop thread publishes: a short GIL
    # switch interval bounds how long an alert waits while the loop keeps working
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    daemon = EdgeDaemon(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.request_stop)
    await daemon.start()
    try:
        await daemon.run_until_stopped()
    finally:
        await daemon.stop()


def cmd_run(args: argparse.Namespace) -> int:
    config = load_site(args.config)
    if config is None:
        return EXIT_CONFIG
    asyncio.run(run_daemon(config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge_runtime.demo import run_demo

    if args.loop and args.no_cloud:
        print("siteguard demo: --loop needs the demo's cloud (leave out --no-cloud)", file=sys.stderr)
        return 2

    return asyncio.run(
        run_demo(
            duration_s=args.duration,
            mqtt_port=args.mqtt_port,
            http_port=args.http_port,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            scenario=args.scenario,
            cloud_port=None if args.no_cloud else args.cloud_port,
            loop=args.loop,
        )
    )


def cmd_cloud(args: argparse.Namespace) -> int:
    """Hands the rest of the line to ``cloud_sync.cli``, imported only now: the edge never loads cloud code."""
    from cloud_sync.cli import main as cloud_main

    return cloud_main(args.cloud_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siteguard", description="SiteGuard edge safety runtime")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the edge daemon on a site file")
    p.add_argument("--config", required=True, help="site configuration (YAML)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a site file; exit 2 naming each bad key")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("file", nargs="?", help="site configuration (YAML)")
    where.add_argument("--config", help="the same, given the way `run` takes it")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("demo", help="run a simulated site end to end with its own broker")
    p.add_argument("--duration", type=float, default=None, help="stop by itself after this many seconds")
    p.add_argument("--mqtt-port", type=int, default=1883, help="broker port (started unless one listens)")
    p.add_argument("--http-port", type=int, default=8080, help="port of the daemon's HTTP endpoints")
    p.add_argument("--data-dir", default=None, help="where the demo keeps its database (default: a temp dir)")
    p.add_argument("--scenario", default=None, help="scenario file or name of a shipped one (default: demo.yaml; "
                   "loop.yaml with --loop)")
    p.add_argument("--cloud-port", type=int, default=8700, help="port of the demo's own cloud service")
    p.add_argument("--no-cloud", action="store_true", help="run the edge alone: no cloud service, no sync")
    p.add_argument("--loop", action="store_true", help="the model loop too: simulated supervisors' verdicts retrain "
                   "the risk model in the demo's cloud, which rolls it out to this device (docs/rollout.md)")
    p.set_defaults(func=cmd_demo)

    # '+' as its option prefix: every '-' option, --help too, passes through to the cloud's own parser
    p = sub.add_parser("cloud", help="the cloud service: serve, migrate, admins, API tokens, devices",
                       add_help=False, prefix_chars="+")
    p.add_argument("cloud_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_cloud)

    add_accounts_parser(sub)
    add_broker_parser(sub)
    add_decode_parser(sub)
    add_infer_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""`siteguard broker-files`: the site broker's password file and ACL from the site file.

Run once per site (and again when accounts change); hand ``passwords.txt`` to
whoever configures the wearable gateways and consoles, then delete it. In
k3s the files become a Secret (passwd, passwords) and a ConfigMap (acl).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_runtime.broker_acl import site_accounts, write_broker_files
from edge_runtime.cli_support import EXIT_CONFIG, load_site


def cmd_broker_files(args: argparse.Namespace) -> int:
    config = load_site(args.config)
    if config is None:
        return EXIT_CONFIG
    out = Path(args.out)
    try:
        files = write_broker_files(out, config.site.id, site_accounts(config))
    except (FileNotFoundError, OSError) as exc:
        print(f"cannot write the broker files: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {files.acl}, {files.passwd} and {files.conf} for {len(files.passwords)} accounts;\n"
          f"the clear passwords are in {files.secrets} (mode 600): give each account its own, then delete it")
    return 0


def add_broker_parser(sub: Any) -> None:
    p = sub.add_parser("broker-files", help="write the site broker's accounts and topic ACL (mosquitto)")
    p.add_argument("--config", required=True, help="site configuration (YAML)")
    p.add_argument("--out", required=True, help="directory for acl, passwd, auth.conf and passwords.txt")
    p.set_defaults(func=cmd_broker_files)

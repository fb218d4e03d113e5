"""What every `siteguard` subcommand does with a site file: load it, or name each bad key and exit 2."""
from __future__ import annotations

import sys

from edge_runtime.config import ConfigError, SiteConfig, load_config

EXIT_CONFIG = 2


def load_site(path: str) -> SiteConfig | None:
    """The site file, or None after printing every problem with its key on stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: invalid site configuration", file=sys.stderr)
        for key, problem in exc.problems:
            print(f"  {key}: {problem}", file=sys.stderr)
        return None

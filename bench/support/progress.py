"""The training benchmarks' progress lines on stderr (stdout keeps its one JSON line)."""
from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    print(f"[retrain bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

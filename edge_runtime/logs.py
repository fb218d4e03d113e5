"""Structured, quiet-by-default logging: one JSON object per line on stderr."""
from __future__ import annotations

import json
import logging
import sys
import time

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(verbosity: int = 0) -> None:
    """0 = warnings only, 1 = info, 2+ = debug."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pymodbus logs an ERROR for every unanswered poll; the poller counts and reports
    # those itself, so its own log is only useful when debugging
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL)
    logging.Formatter.converter = time.gmtime


def verbosity_of(level: int) -> int:
    """The ``setup_logging`` verbosity that gives ``level``: child processes log like their parent."""
    return 0 if level >= logging.WARNING else 1 if level >= logging.INFO else 2


class LogThrottle:
    """Lets a repeating warning be logged once per interval instead of once per message or row."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self._interval = interval_s
        self._next = 0.0
        self.suppressed = 0  # repeats not logged since the last one that was

    def ready(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            self.suppressed += 1
            return False
        self._next = now + self._interval
        self.suppressed = 0
        return True

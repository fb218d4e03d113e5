"""``siteguard decode``: decode a capture file (or stdin) to JSON lines, for field diagnosis.

One JSON object per reading on stdout; at the end one JSON summary on stderr
(frames decoded and rejected, bytes discarded), so ``> readings.jsonl`` keeps
the data clean. The exit status is 0 once the whole capture was read - a
capture from a noisy line is still a capture, its rejections are in the
summary - and 1 when it could not be read.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from firmware_bridge.protocols import PROTOCOLS, Decoded, StreamDecoder
from firmware_bridge.readings import GpsFix

CHUNK_SIZE = 64 * 1024
DESCRIPTION = "Decode a serial capture (file or stdin) to one JSON object per reading."
GPS_KEYS = ("talker", "sentence", "fix_valid", "lat", "lon", "fix_quality", "hdop", "alt", "time")


def run_decode(protocol: str, source: BinaryIO, out: TextIO, err: TextIO) -> int:
    """Decode everything ``source`` holds with ``protocol``; see the module docstring for the output."""
    decoder = StreamDecoder(protocol)
    while True:
        try:
            chunk = source.read(CHUNK_SIZE)
        except OSError as exc:
            err.write(f"decode: cannot read capture: {exc}\n")
            return 1
        if not chunk:
            break
        for decoded in decoder.feed(chunk):
            out.write(json.dumps(_as_json(decoded)) + "\n")
    stats = decoder.stats
    summary = {
        "protocol": protocol,
        "frames_ok": stats.frames_ok,
        "frames_rejected": stats.frames_rejected,
        "bytes_discarded": stats.bytes_discarded,
        "readings": stats.readings,
    }
    err.write(json.dumps(summary) + "\n")
    return 0


def _as_json(decoded: Decoded) -> dict[str, Any]:
    reading = decoded.reading
    if isinstance(reading, GpsFix):
        obj = {key: getattr(reading, key) for key in GPS_KEYS}
    else:
        obj = {f.name: _plain(getattr(reading, f.name)) for f in dataclasses.fields(reading)}
    if decoded.address is not None:
        obj["address"] = decoded.address
    return obj


def _plain(value: object) -> object:
    """Enums as their value, tuples as lists: what ``json`` can write."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS), help="protocol of the capture")
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="capture to decode (default: stdin); hrm and modbus captures hold one hex frame per line",
    )
    parser.set_defaults(func=_run_from_args)


def _run_from_args(args: argparse.Namespace) -> int:
    try:
        if args.file is None or str(args.file) == "-":
            return run_decode(args.protocol, sys.stdin.buffer, sys.stdout, sys.stderr)
        with args.file.open("rb") as source:
            return run_decode(args.protocol, source, sys.stdout, sys.stderr)
    except BrokenPipeError:
        # The reader (``| head``) has seen enough; point stdout at /dev/null so
        # the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        sys.stderr.write(f"decode: cannot open {args.file}: {exc}\n")
        return 1


def add_decode_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``decode`` to a CLI's subcommands; ``args.func(args)`` then returns the exit status."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decode",
        help="decode a serial capture to JSON lines",
        description=DESCRIPTION,
    )
    _configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware_bridge.decode_cli``: the same as ``siteguard decode``."""
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.decode_cli", description=DESCRIPTION)
    _configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""One exception root for the bridge, so callers can catch everything it raises."""
from __future__ import annotations


class BridgeError(Exception):
    """Root of every error raised by firmware_bridge."""


class CodecError(BridgeError, ValueError):
    """A frame could not be decoded (bad checksum, truncated, out of spec)."""


class TransportError(BridgeError, OSError):
    """The serial link failed (port gone, write failed, timed out)."""


class LinkTimeout(TransportError, TimeoutError):
    """A command to the controller was not acknowledged within its retries."""

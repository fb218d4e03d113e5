"""Password hashes of accounts: argon2id for new ones; argon2 and bcrypt verified.

Verifying costs tens of milliseconds of CPU on purpose: callers on the event
loop run these functions in a thread. bcrypt hashes (from older edge site files)
are verified only when the optional ``bcrypt`` package is installed; an app's
settings should refuse such a hash without it (the edge site file does), rather
than silently never let that account in.
"""
from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

try:
    import bcrypt  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # optional: only site files with bcrypt hashes need it
    bcrypt = None  # type: ignore[assignment]

_HASHER = PasswordHasher()  # argon2id with argon2-cffi's (RFC 9106 low-memory) defaults
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (its own random salt), for a settings file or a database."""
    return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """Whether ``password`` matches ``hashed`` (argon2 or bcrypt); a malformed hash matches nothing."""
    if hashed.startswith(_BCRYPT_PREFIXES):
        if bcrypt is None:
            return False
        try:
            return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
        except ValueError:  # malformed hash, or a password bcrypt refuses (over 72 bytes)
            return False
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_unknown(password: str) -> None:
    """Spends what verifying costs, for a name with no account: login time does not tell which names exist."""
    verify_password(_dummy_hash(), password)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("no account has this password")

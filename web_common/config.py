"""What differs between the apps that share the toolkit, in the one object its registry and middleware read."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .roles import OrderedRole

R = TypeVar("R", bound=OrderedRole)

#: put on every answer: nothing but this origin's own scripts, styles and frames run in a page
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


@dataclass(frozen=True, slots=True)
class WebSecurity(Generic[R]):
    """An app's roles, names and paths, as the API registry and the security middleware need them."""

    roles: type[R]  # its lowest role is what a route needs unless marked otherwise (deny by default)
    session_cookie: str
    server: str  # the Server header, instead of aiohttp's "Python/3.x aiohttp/3.x": versions help only an attacker
    api_prefix: str = "/api/v1"  # JSON answers (401 rather than the login page, no-store); the registry mounts here
    csrf_header: str = "X-CSRF-Token"
    login_path: str = "/login"  # public; a browser without a session is sent here
    public_paths: frozenset[str] = frozenset()  # besides login_path: health checks, the login page's assets
    metrics_path: str = "/metrics"  # answered 401, not the login page, without a session
    headers: tuple[tuple[str, str], ...] = SECURITY_HEADERS

    @property
    def lowest_role(self) -> R:
        return min(self.roles)

    def is_public(self, path: str) -> bool:
        return path == self.login_path or path in self.public_paths

    def is_api(self, path: str) -> bool:
        return path == self.api_prefix or path.startswith(self.api_prefix + "/")

"""The model registry's exception root and its refusals; :mod:`.api` answers each with its status
(:data:`STATUS`: 404, 409, 422, 400, 415)."""
from __future__ import annotations


class ModelRegistryError(Exception):
    """A model registry operation that cannot be done; the message says why and is safe to show an admin."""


class ModelNotFound(ModelRegistryError):
    """No such model, version or alias."""


class DuplicateVersion(ModelRegistryError):
    """The version is registered already: versions are immutable, register a new one."""


class PackageRefused(ModelRegistryError):
    """The package is unsigned, signed by a key not trusted, tampered with, too large or malformed."""


class BadInput(ModelRegistryError):
    """A try-out input the model cannot take (an undecodable image, rows of the wrong width)."""


class UnsupportedInput(ModelRegistryError):
    """An input of a kind the model does not take (an image for a risk model)."""


STATUS: dict[type[ModelRegistryError], int] = {
    ModelNotFound: 404, DuplicateVersion: 409, PackageRefused: 422, BadInput: 400, UnsupportedInput: 415,
}


def status_of(exc: ModelRegistryError) -> int:
    """The HTTP status answering ``exc``: its class's, else 422 (a request the registry cannot do)."""
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 422)

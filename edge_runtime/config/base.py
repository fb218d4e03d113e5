"""Strict base model, the id rule and the package's one error type.

A typo in the site file fails at start-up, naming the key; a NaN or infinite
number is refused everywhere, since every comparison with NaN is false and an
alarm threshold or zone vertex holding one would silently never fire.
"""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ID_RULE = (
    "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit, without '..' "
    "(ids are MQTT topic levels and file names)"
)


class ConfigError(ValueError):
    """A site file that cannot run; ``problems`` lists ``(key, message)`` pairs.

    Raised inside a model validator, its keys are relative to that model: the
    loader prefixes the model's own path, so a nested check names the full key.
    """

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


def _safe_id(value: str) -> str:
    """An id with '/', '+', '#', NUL or a space would address the wrong topic (or none);
    one with '..' or a leading '.' could leave its folder as a file name."""
    if not _ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a valid id: {ID_RULE}")
    return value


ID_CHECK = AfterValidator(_safe_id)
Id = Annotated[str, ID_CHECK]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

"""Generate the configuration reference (docs/configuration.md) from the models.

The reference is derived, never hand-maintained: a test fails when the file is
out of date, so every key a site engineer can set is documented with its type,
default and description.
"""
from __future__ import annotations

import sys
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .base import ID_CHECK, ID_RULE
from .site import SiteConfig
from .site_file import MAX_DEPTH

HEADER = """# Site configuration reference

Generated from the typed models in `edge_runtime/config/` by
`python -m edge_runtime.config.reference > docs/configuration.md`; a test fails when
it is out of date. Unknown keys are errors, and so are duplicate keys, NaN or infinite
numbers, nesting deeper than """ + str(MAX_DEPTH) + """ levels and a file that is not UTF-8 text.
`siteguard check-config FILE` validates a file and exits with code 2 naming each bad key.

An `Id` is """ + ID_RULE + """.
"""


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *checks = get_args(annotation)
        return "Id" if ID_CHECK in checks else _type_name(base)
    if origin is None:
        return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")
    args = ", ".join(_type_name(a) for a in get_args(annotation) if a is not Ellipsis)
    name = getattr(origin, "__name__", str(origin)).replace("UnionType", "Union")
    return f"{name}[{args}]"


def _default(field: FieldInfo) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{getattr(value, 'value', value)!r}`" if value not in ((), None) else f"`{value!r}`"
    if field.default_factory is not None:
        return "(see below)" if field.description and "default" in field.description else "`{}`"
    return "**required**"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def render(model: type[BaseModel] = SiteConfig, prefix: str = "", seen: set[type] | None = None) -> list[str]:
    seen = seen if seen is not None else set()
    title = prefix or "(root)"
    lines = [f"\n## `{title}`\n", (model.__doc__ or "").strip().split("\n\n")[0], "",
             "| key | type | default | description |", "|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|")
        type_name = "Id" if ID_CHECK in field.metadata else _type_name(field.annotation)
        lines.append(f"| `{name}` | `{type_name}` | {_default(field)} | {desc} |")
        for sub in _models_in(field.annotation):
            if sub not in seen:
                seen.add(sub)
                nested.append((f"{prefix}.{name}" if prefix else name, sub))
    for path, sub in nested:
        lines += render(sub, path, seen)
    return lines


def reference() -> str:
    return HEADER + "\n".join(render()) + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())

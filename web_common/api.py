"""A JSON API registry: one declaration per endpoint routes it, validates it, guards it (the role
the security middleware reads) and documents it in OpenAPI.

An endpoint is a coroutine ``handler(request, **parts)`` declared with
:meth:`ApiRegistry.route`. ``query=`` and ``body=`` are pydantic models: the
registry validates the query string and JSON body and passes them as ``query``
and ``body`` (a bad one is answered 400/422 naming the field, before the
handler runs; json_body.py bounds a body's size and nesting before parsing
it). The handler returns a pydantic model (serialised as the declared
response), a plain JSON-able value, or any ``web.StreamResponse``
(CSV, JPEG, event streams). :class:`ApiError` ends a request with a JSON
error. Because routes and the OpenAPI document come from the same
declarations, the document cannot drift from what the server does. Paths,
cookie and header names come from the app's :class:`~.config.WebSecurity`;
roles are its :class:`~.roles.OrderedRole` subclass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, Mapping, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .config import WebSecurity
from .json_body import BodyError, read_json
from .roles import OrderedRole

Handler = Callable[..., Awaitable[Any]]
_PATH_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
R = TypeVar("R", bound=OrderedRole)


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: str
    details: list[str] = []


class ApiError(web.HTTPException):
    """Ends a request with ``{"error": message, "details": [...]}`` and the given status."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        self.status_code = status
        super().__init__(
            text=ErrorOut(error=message, details=details or []).model_dump_json(), content_type="application/json"
        )


def public(handler: Handler) -> Handler:
    """Marks a handler that needs no session (login, health)."""
    handler.required_role = None  # type: ignore[attr-defined]
    return handler


def required_role(handler: object, default: R) -> R | None:
    """The role a route handler needs; unmarked handlers need ``default``, the app's lowest (deny by default)."""
    return getattr(handler, "required_role", default)


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # below the API prefix, e.g. "/alarms/{alarm_id}/ack"
    handler: Handler
    role: OrderedRole | None
    summary: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    produces: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""


@dataclass
class ApiRegistry(Generic[R]):
    """Collects endpoints, mounts them on an app and writes their OpenAPI document.

    ``reasons`` words the app's error statuses in the document (over :data:`REASONS`).
    """

    security: WebSecurity[R]
    reasons: Mapping[int, str] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self, method: str, path: str, *, role: R | None, summary: str, tag: str,
        query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None, produces: str = "application/json", status: int = 200,
        errors: tuple[int, ...] = (), description: str = "",
    ) -> Callable[[Handler], Handler]:
        """Declares ``method path`` (below the API prefix); ``role`` None makes it public."""

        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(
                method.upper(), path, handler, role, summary, tag, query, body, response, produces, status,
                errors, description or (handler.__doc__ or "").strip(),
            ))
            return handler

        return register

    def mount(self, app: web.Application) -> None:
        for ep in self.endpoints:
            app.router.add_route(ep.method, self.security.api_prefix + ep.path, _wrap(ep))

    def openapi(self, title: str, version: str) -> dict[str, Any]:
        return build_openapi(self.endpoints, title, version, self.security, self.reasons)


def _wrap(ep: Endpoint) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = dict(request.match_info)
        if ep.query is not None:
            kwargs["query"] = _validate(ep.query, dict(request.query), "query", 400)
        if ep.body is not None:
            try:
                data = await read_json(request)
            except BodyError as exc:
                raise ApiError(exc.status, str(exc), exc.details) from None
            kwargs["body"] = _validate(ep.body, data, "body", 422)
        result = await ep.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if ep.status == 200 else ep.status)
        if isinstance(result, BaseModel):
            return web.json_response(text=result.model_dump_json(), status=ep.status)
        if ep.response is not None:
            text = ep.response.model_validate(result).model_dump_json()
            return web.json_response(text=text, status=ep.status)
        return web.json_response(result, status=ep.status)

    handle.required_role = ep.role  # type: ignore[attr-defined]
    handle.__name__ = ep.handler.__name__
    handle.__doc__ = ep.handler.__doc__
    return handle


def _validate(model: type[BaseModel], data: object, where: str, status: int) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [f"{where}.{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise ApiError(status, f"invalid {where}", details) from None


# -- OpenAPI ------------------------------------------------------------------------------------

def build_openapi(endpoints: list[Endpoint], title: str, version: str, security: WebSecurity[Any],
                  reasons: Mapping[int, str] | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document of ``endpoints`` below ``security.api_prefix``; schemas come from their
    pydantic models, error descriptions from ``reasons`` over :data:`REASONS`."""
    models: list[tuple[type[BaseModel], str]] = [(ErrorOut, "serialization")]
    for ep in endpoints:
        if ep.body is not None:
            models.append((ep.body, "validation"))
        if ep.response is not None:
            models.append((ep.response, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")
    words = {**REASONS, **(reasons or {})}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(security.api_prefix + ep.path, {})[ep.method.lower()] = _operation(ep, refs, words)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": security.session_cookie},
                "csrf": {"type": "apiKey", "in": "header", "name": security.csrf_header},
            },
        },
    }


def _operation(ep: Endpoint, refs: dict[tuple[type[BaseModel], str], dict[str, Any]],
               reasons: Mapping[int, str]) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": refs[(ErrorOut, "serialization")]}}}
    op: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', ep.path).strip('_')}",
        "summary": ep.summary,
        "tags": [ep.tag],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(ep.path)
        ],
        "responses": {},
    }
    if ep.description:
        op["description"] = ep.description
    if ep.query is not None:
        schema = ep.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            op["parameters"].append({"name": name, "in": "query", "required": name in schema.get("required", []),
                                     "schema": {k: v for k, v in prop.items() if k != "title"}})
    if ep.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[(ep.body, "validation")]}}}
    if ep.response is not None:
        ok: dict[str, Any] = {"description": "OK", "content": {ep.produces: {"schema": refs[(ep.response, "serialization")]}}}
    elif ep.produces == "application/json":
        ok = {"description": "OK" if ep.status != 204 else "Done"}
    else:
        ok = {"description": "OK", "content": {ep.produces: {"schema": {"type": "string"}}}}
    op["responses"][str(ep.status)] = ok
    if ep.role is None:
        op["security"] = []
    else:
        op["security"] = [{"session": [], "csrf": []}] if ep.method in UNSAFE_METHODS else [{"session": []}]
        op["responses"]["401"] = {"description": "Not signed in", **error}
        op["responses"]["403"] = {"description": "Role too low or CSRF token missing", **error}
        op["x-role"] = ep.role.label
    for status in (*((400,) if ep.query is not None or ep.body is not None else ()),
                   *((413, 422) if ep.body is not None else ()), *ep.errors):
        op["responses"].setdefault(str(status), {"description": reasons.get(status, "Error"), **error})
    return op


#: how the document words an error status no app's ``reasons`` words its own way
REASONS = {400: "Bad request", 404: "Not found", 409: "Conflict", 413: "Body too large", 422: "Invalid body",
           429: "Too many attempts", 503: "Not available now"}

"""The service's OpenAPI document: the shared generator's documents of both registries, joined.

``web_common.api`` writes the admin API (``/api/v1``, session and CSRF) and,
from a second registry, the signed device API (``/v1``). What it cannot know
is added here, from declarations rather than by hand: the bearer token as an
alternative to the session on every guarded operation, and on the device
operations the signature headers and the bodies they read themselves (raw,
because the signature covers the exact bytes).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cloud_sync.contract import batch, signing
from cloud_sync.registry.heartbeats import Heartbeat
from cloud_sync.registry.roles import Role
from web_common.api import ApiRegistry

from . import device_api
from .keys import DEVICE_API

TITLE = "SiteGuard cloud API"
#: device operation path -> (media type, model of the body or None for bytes)
DEVICE_BODIES: dict[str, tuple[str, type[BaseModel] | None]] = {
    DEVICE_API + device_api.BATCHES: (batch.MEDIA_TYPE, None),
    DEVICE_API + device_api.HEARTBEAT: ("application/json", Heartbeat),
}
SIGNATURE_HEADERS = (signing.DEVICE_HEADER, signing.KEY_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
                     signing.SIGNATURE_HEADER)


def openapi_document(admin: ApiRegistry[Role], devices: ApiRegistry[Role], version: str) -> dict[str, Any]:
    doc = admin.openapi(TITLE, version)
    device_doc = devices.openapi(TITLE, version)
    components = doc["components"]
    components["schemas"].update(device_doc["components"]["schemas"])
    components["securitySchemes"]["bearer"] = {"type": "http", "scheme": "bearer",
                                               "description": "an admin API token (sgadm1...)"}
    components["securitySchemes"]["deviceSignature"] = {
        "type": "apiKey", "in": "header", "name": signing.SIGNATURE_HEADER,
        "description": "Ed25519 over method, path, body hash, timestamp and nonce; with "
                       + ", ".join(SIGNATURE_HEADERS[:-1]) + " (docs/sync.md)",
    }
    for item in doc["paths"].values():
        for op in item.values():
            if op["security"]:
                op["security"].append({"bearer": []})
    for path, item in device_doc["paths"].items():
        body = DEVICE_BODIES.get(path)  # None: a GET, signed over an empty body
        for op in item.values():
            op["security"] = [{"deviceSignature": []}]
            op["parameters"] += [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                                 for name in SIGNATURE_HEADERS]
            if body is not None:
                media, model = body
                op["requestBody"] = {"required": True,
                                     "content": {media: {"schema": _body_schema(model, components)}}}
        doc["paths"][path] = item
    return doc


def _body_schema(model: type[BaseModel] | None, components: dict[str, Any]) -> dict[str, Any]:
    if model is None:
        return {"type": "string", "contentMediaType": batch.MEDIA_TYPE}
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components["schemas"].update(schema.pop("$defs", {}))
    components["schemas"][model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}

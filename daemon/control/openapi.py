"""The OpenAPI 3.1 document, built from the route table (docs/openapi.json is its copy)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.control.routes import Route


def _obj(props: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


_ID = {"type": "string", "minLength": 1, "maxLength": 512}
_KIND = {"type": "string", "enum": ["track", "album", "playlist", "station"]}
_INT0 = {"type": "integer", "minimum": 0}
_B64 = {"type": "string", "maxLength": 8192, "pattern": "^[A-Za-z0-9_-]*$"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"}},
                                 ["code", "message"])}, ["error"]),
    "PairStart": _obj({"pake": _B64}, ["pake"]),
    "PairFinish": _obj({"session": {"type": "string", "maxLength": 64}, "confirm": _B64,
                        "hello": _B64, "cookie": {"type": "boolean"}},
                       ["session", "confirm", "hello"]),
    "Play": _obj({"kind": _KIND, "service_id": _ID, "start_index": _INT0,
                  "position_ms": _INT0}, ["kind", "service_id"]),
    "Seek": _obj({"position_ms": _INT0}, ["position_ms"]),
    "Volume": _obj({"level": {"type": "integer", "minimum": 0, "maximum": 100}}, ["level"]),
    "Repeat": _obj({"mode": {"type": "string", "enum": ["off", "one", "all"]}}, ["mode"]),
    "Shuffle": _obj({"enabled": {"type": "boolean"}}, ["enabled"]),
    "QueueAdd": _obj({"kind": _KIND, "service_id": _ID, "index": _INT0},
                     ["kind", "service_id"]),
    "QueueMove": _obj({"to_index": _INT0}, ["to_index"]),
    "AudibleCode": _obj({"response_url": {"type": "string", "format": "uri",
                                          "maxLength": 8192}}, ["response_url"]),
    "AudibleForm": _obj({"email": {"type": "string", "minLength": 1, "maxLength": 256},
                         "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                         "username_account": {"type": "boolean"}}, ["email", "password"]),
    "AudibleAsin": _obj({"asin": {"type": "string", "pattern": "^[A-Z0-9]{10}$"}}, ["asin"]),
    "AudibleAnswer": _obj({"answer": {"type": "string", "minLength": 1, "maxLength": 256}},
                          ["answer"]),
    "Settings": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 63},
                      "default_quality": {"type": "string", "maxLength": 63},
                      "output": {"type": "string", "maxLength": 63}}),
    "PhoneName": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 64}}, ["name"]),
}

_ERRORS = {
    "400": "Invalid input (malformed JSON, bad field)",
    "401": "Missing or invalid token",
    "403": "Origin not allowed",
    "413": "Body over 64 KiB",
    "415": "Body is not application/json",
    "421": "Host is not this device",
    "429": "Rate limited",
}


def _error_ref(text: str) -> dict[str, Any]:
    return {"description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build_document(routes: Iterable[Route], api_path: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {"operationId": route.name, "summary": route.summary,
                              "security": [] if route.public else [{"bearer": []}]}
        params = [{"name": p.strip("{}"), "in": "path", "required": True,
                   "schema": {"type": "string", "maxLength": 64}}
                  for p in route.path.split("/") if p.startswith("{")]
        params += [{"name": q, "in": "query", "required": q == "q",
                    "schema": {"type": "string", "maxLength": 512}} for q in route.query]
        if params:
            op["parameters"] = params
        if route.body:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{route.body}"}}}}
        content = ({"text/plain": {"schema": {"type": "string"}}} if route.name == "metrics"
                   else {"application/json": {"schema": {"type": "object"}}})
        responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
        for status, text in _ERRORS.items():
            if status == "401" and route.public:
                continue
            responses[status] = _error_ref(text)
        op["responses"] = responses
        paths.setdefault(api_path + route.path, {})[route.method.lower()] = op
    paths[f"{api_path}/events"] = {"get": {
        "operationId": "events",
        "summary": "Event WebSocket: send {type: auth, data: {token}} first; then receive "
                   "snapshot, player events, signin, device, pairing, heartbeat messages",
        "security": [{"bearer": []}],
        "x-websocket": True,
        "responses": {"101": {"description": "Switching to WebSocket"},
                      "401": _error_ref("Not a WebSocket upgrade and no token")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "speakerd control API", "version": version,
                 "description": "LAN control of a speakerd speaker. HTTPS with the device's "
                                "self-signed certificate, pinned at pairing."},
        "servers": [{"url": api_path}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Per-phone token from pairing"}},
        },
    }

"""The OpenAPI document at /openapi.json, made true to ../shared/api-contract.md.

FastAPI writes the document from the routes; this adds what it cannot see:

- every status code an operation can answer, each with the error body api/errors.py sends
  (`Error`; `ValidationProblem` for 422), derived from the route itself: a token or session
  dependency gives 401 and 403 and the security requirement, a body 413/415/422, a path parameter
  404, the rate-limited operations 429 with `Retry-After`, and the store being down 503;
- the security schemes: a bearer token, or the staff session cookie (whose changes also need the
  X-CSRF-Token header);
- field limits FastAPI leaves out because they are enforced by validators: text that must not be blank
  once trimmed, the chat message's 1 to 1000 characters after trimming, tags, dates that are dates;
  and that no text may hold NUL (api/hardening.py refuses it);
- `If-Match` as a required header where it is: declared here, not enforced by FastAPI, so a request
  without it still gets the contract's 428 rather than a 422.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api import deps
from api.hardening import NO_NUL, NOT_BLANK, WS, trimmed_length_pattern
from api.schemas import MAX_MESSAGE

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error is JSON of this shape; some carry more fields (e.g. `broken`, `current`).",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. unauthorized, not_found, golden_broken"},
        "message": {"type": "string", "description": "what went wrong and what to do, for a person to read"},
    },
    "additionalProperties": True,
}
VALIDATION_SCHEMA = {
    "type": "object",
    "description": "A request that cannot be processed: the fields named, never the values sent.",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "enum": ["validation_error"]},
        "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "string"}, "description": "the fields at fault"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "field": {"type": "string"},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "rows": {"type": "array", "items": {"type": "object"}, "description": "an import's bad rows, each named"},
    },
    "additionalProperties": True,
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of role staff, editor or admin (`make token ROLE=editor`).",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "faqbot_session",
        "description": "A signed-in person's session (POST /api/auth/login); a change made with it also needs "
        "the session's CSRF token in the X-CSRF-Token header.",
    },
}
DESCRIPTIONS = {
    "401": "No valid bearer token or session",
    "403": "A token or account of another role (or, with a session, a change without its CSRF token)",
    "404": "No such item",
    "409": "Conflict",
    "412": "The If-Match ETag is stale: someone else changed the item",
    "413": "The request body is over the configured size (web.max_body_bytes, web.max_import_bytes)",
    "415": "The body is not declared as JSON",
    "422": "The request cannot be processed: a missing, empty, oversized or wrongly typed field, a body that "
    "is not UTF-8 JSON, or text holding NUL or a lone surrogate",
    "428": "If-Match is missing",
    "429": "Too many requests from this client; wait as long as Retry-After says",
    "503": "The knowledge store is unavailable for a moment; try again after Retry-After seconds",
}
RATE_LIMITED = {("post", "/api/chat"), ("get", "/api/search"), ("post", "/api/auth/login")}
NO_STORE = {"/livez"}  # every other operation may meet the store down (api/errors.py: 503 with Retry-After)
BODY_METHODS = {"post", "put", "patch"}
TAG_PATTERN = f"^[{WS}]*[^{WS}<>\"'&\\u0000]{{1,50}}[{WS}]*$"
YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
PUBLISHED_PATTERN = f"^(?:{YEAR}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?|[{WS}]*)$"
URL_PATTERN = f"^[{WS}]*(?:https?://[^{WS}<>\"'\\u0000]+)?[{WS}]*$"
# Request fields whose validators trim and refuse blank text (knowledge/schema.py, the routes' models).
NOT_BLANK_FIELDS = {
    "QACreate": ("question", "answer"),
    "Source": ("title", "publisher", "passage"),
    "GoldenIn": ("question", "pair_id"),
    "FlagCreate": ("note",),
}
NOT_BLANK_ITEMS = {"QACreate": ("alternates", "caveats")}
REF = "#/components/schemas/"


def _role_checks() -> dict[Callable[..., Any], str]:
    """The dependencies that let a caller in, and who they let in."""
    checks: dict[Callable[..., Any], str] = {}
    for alias, who in (
        (deps.StaffRole, "staff, editor or admin"),
        (deps.StaffCaller, "staff, editor or admin"),
        (deps.EditorRole, "editor or admin"),
        (deps.EditorCaller, "editor or admin"),
    ):
        checks[get_args(alias)[1].dependency] = who
    return checks


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    stack = [dependant]
    while stack:
        d = stack.pop()
        if d.call is not None:
            yield d.call
        stack.extend(d.dependencies)


def _response(status: str, schema: str = "Error", headers: dict | None = None) -> dict:
    out: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        out["headers"] = headers
    return out


def _not_null(schema: dict) -> dict:
    """`anyOf: [X, null]` as X: a parameter that may be left out, never sent as null."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _no_nul(schema: dict) -> None:
    """Strings without a pattern of their own may hold anything but NUL (api/hardening.py refuses it)."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & schema.keys():
        schema["pattern"] = NO_NUL
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _no_nul(schema[key])
    for child in (schema.get("properties") or {}).values():
        _no_nul(child)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in schema.get(key) or []:
            _no_nul(child)


def _string_branch(schema: dict) -> dict:
    """The string schema inside `anyOf: [string, null]`, or the schema itself."""
    for option in schema.get("anyOf") or []:
        if option.get("type") == "string":
            return option
    return schema


def _field_limits(components: dict) -> None:
    chat = components.get("ChatRequest", {}).get("properties", {})
    if "message" in chat:
        chat["message"].update(
            minLength=1, pattern=trimmed_length_pattern(MAX_MESSAGE), examples=["is the liberation procedure proven?"]
        )
    for name, fields in NOT_BLANK_FIELDS.items():
        props = components.get(name, {}).get("properties", {})
        for f in fields:
            if f in props:
                _string_branch(props[f])["pattern"] = NOT_BLANK
    for name, fields in NOT_BLANK_ITEMS.items():
        props = components.get(name, {}).get("properties", {})
        for f in fields:
            if f in props:
                props[f]["items"] = {"type": "string", "pattern": NOT_BLANK}
    qa = components.get("QACreate", {}).get("properties", {})
    if "tags" in qa:
        qa["tags"]["items"] = {
            "type": "string",
            "pattern": TAG_PATTERN,
            "description": "1 to 50 characters once trimmed, without spaces, quotes, '<', '>' or '&'",
        }
    source = components.get("Source", {}).get("properties", {})
    if "published" in source:
        branch = _string_branch(source["published"])
        branch["pattern"] = PUBLISHED_PATTERN
        branch["description"] = "YYYY, YYYY-MM or YYYY-MM-DD, a real date (blank: no date)"
    if "url" in source:
        _string_branch(source["url"])["pattern"] = URL_PATTERN
    if "QACreate" in components:  # an import row: as on create, and an empty id or audience is left to us
        row = copy.deepcopy(components["QACreate"])
        row["title"] = "QAImportRow"
        row["description"] = "A pair in an import: as on create; an empty id or audience is filled in by the service."
        empty = {"type": "string", "maxLength": 0}
        for name in ("id", "audience"):
            if name in row["properties"]:
                prop = row["properties"][name]
                options = prop.pop("anyOf", None) or [{k: prop.pop(k) for k in list(prop) if k in ("type", "enum")}]
                prop["anyOf"] = [*(o for o in options if o.get("type") != "null"), empty, {"type": "null"}]
        components["QAImportRow"] = row


def _refs(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF):
                yield ref.removeprefix(REF)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _request_side(schema: dict) -> None:
    """No text a request sends may hold NUL: said on every request body's strings without a pattern."""
    components = schema["components"]["schemas"]
    bodies = [
        media["schema"]
        for path_item in schema.get("paths", {}).values()
        for operation in path_item.values()
        for media in (operation.get("requestBody") or {}).get("content", {}).values()
        if "schema" in media
    ]
    seen: set[str] = set()
    todo = [name for body in bodies for name in _refs(body)]
    while todo:
        name = todo.pop()
        if name in seen or name not in components:
            continue
        seen.add(name)
        todo.extend(_refs(components[name]))
    for body in bodies:
        _no_nul(body)
    for name in seen:
        _no_nul(components[name])


def _parameters(operation: dict) -> None:
    for p in operation.get("parameters", []):
        p["schema"] = _not_null(p.get("schema", {}))
        if p["in"] == "header" and p["name"].lower() == "if-match":
            p.update(
                name="If-Match",
                required=True,
                description="the ETag from the last read of the item; without it 428, stale 412",
            )
            p["schema"] = {"type": "string", "minLength": 1}
        elif p["in"] == "header" and p["name"].lower() == "x-golden-override":
            p["description"] = (
                "an admin's reason (at most 500 characters) to publish a change that breaks golden questions"
            )
            p["schema"] = {"type": "string"}


def _add(operation: dict, status: str, response: dict) -> None:
    responses = operation.setdefault("responses", {})
    existing = responses.get(status)
    if existing is None:
        responses[status] = response
        return
    # Keep a route's own description; give it the error body.
    described = existing.get("description")
    responses[status] = {**response, **({"description": described} if described else {})}
    if "headers" in existing:
        responses[status]["headers"] = existing["headers"]


def complete(app: FastAPI, schema: dict) -> dict:
    schema = copy.deepcopy(schema)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    _field_limits(schemas)
    _request_side(schema)
    checks = _role_checks()
    retry_after = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "seconds to wait"}}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path_item = schema.get("paths", {}).get(route.path_format, {})
        who = next((checks[c] for c in _calls(route.dependant) if c in checks), None)
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            m = method.lower()
            _parameters(operation)
            has_params = bool(operation.get("parameters"))
            if who:
                operation["security"] = [{"bearer": []}, {"session": []}]
                operation["description"] = (
                    operation.get("description", "") + f"\n\nFor a caller of role {who}."
                ).strip()
                _add(operation, "401", _response("401"))
                _add(operation, "403", _response("403"))
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                _add(operation, "404", _response("404"))
            if m in BODY_METHODS:
                _add(operation, "413", _response("413"))
                if route.body_field is not None or "requestBody" in operation:
                    _add(operation, "415", _response("415"))
            if m in BODY_METHODS or has_params:
                _add(operation, "422", _response("422", "ValidationProblem"))
            if (m, route.path_format) in RATE_LIMITED:
                _add(operation, "429", _response("429", headers=retry_after))
            if route.path_format not in NO_STORE and "503" not in operation["responses"]:
                _add(operation, "503", _response("503", headers=retry_after))
            for status, response in list(operation.get("responses", {}).items()):
                if status.startswith("4") and status != "422" and "content" not in response:
                    _add(operation, status, _response(status))
    used = set(_refs(schema.get("paths")))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, replaced by ValidationProblem
        if name not in used and not any(name in set(_refs(schemas[n])) for n in used if n in schemas):
            schemas.pop(name, None)
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed document (built once, on the first request for it)."""
    plain = app.openapi
    built: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if "schema" not in built:
            built["schema"] = complete(app, plain())
            app.openapi_schema = built["schema"]
        return built["schema"]

    app.openapi = openapi  # type: ignore[method-assign]

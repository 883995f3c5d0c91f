"""Hostile input, refused at the door: oversized bodies, broken JSON, text that is not text, wrong methods.

Two pure ASGI middlewares (not BaseHTTPMiddleware: nothing is buffered that need not be):

- `RequestGuard`, on POST, PUT and PATCH (no route reads another method's body): a body over
  `web.max_body_bytes` (`web.max_import_bytes` for an import, and for Rasa's calls to the action route,
  which carry the whole conversation) is refused with 413 and a JSON body naming the limit, from its
  Content-Length before a byte is read, or, for a chunked body, as soon as the bytes counted pass the
  limit (reading stops there, and the connection is closed). A JSON body is read
  (it is small by then), and refused with 422 naming the problem when it is not UTF-8, not JSON,
  nested beyond reason, or holds a lone surrogate ("\\ud800") or a NUL character in any string: the
  first would break every layer that encodes text, the second cannot be stored by PostgreSQL. The
  body then reaches the route exactly as sent. The import reads its own body (it may be large) and
  checks its text with `text_problem`.
- `MethodGuard`: `OPTIONS` answers 204 with the `Allow` header, and a method the address does not
  answer gets 405 with a correct `Allow` (Starlette names only the first matching route's methods).
  A fixed address wins over a templated one: `GET /api/qa/import` is 405, not a look-up of a pair
  called "import".

Both answer in the service's error shape (api/errors.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import validation_body

# What Python's str.strip() removes, as a regular-expression class: the API trims text with it, and the
# OpenAPI document's patterns use this class instead of \s, which validators read differently.
WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def _char_class(chars: str) -> str:
    """Characters as the inside of a regex class, in \\uXXXX escapes that Python, ECMA-262 and Rust read alike."""
    out, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        first, last = (f"\\u{ord(c):04x}" for c in (chars[i], chars[j]))
        out.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return "".join(out)


WS = _char_class(WHITESPACE)
# Patterns for the OpenAPI document (JSON Schema `pattern`: a search, not anchored unless it says so).
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = f"^[^\\u0000]*[^{WS}\\u0000][^\\u0000]*$"  # something besides whitespace, and no NUL


def trimmed_length_pattern(most: int) -> str:
    """1 to `most` characters once surrounding whitespace is trimmed (and no NUL)."""
    return f"^[{WS}]*[^{WS}\\u0000](?:[^\\u0000]{{0,{most - 2}}}[^{WS}\\u0000])?[{WS}]*$"


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_DEPTH = 64  # JSON nested deeper than this is refused (Python's parser recurses)
IMPORT_PATH = "/api/qa/import"
ACTIONS_PATH = "/internal/actions"  # Rasa's calls carry the whole conversation: the import's limit applies


def text_problem(value: Any) -> tuple[list[str | int], str, str] | None:
    """The first string in a parsed JSON value that is not text: (where, what, error type), or None.

    Walks without recursion; keys are checked for lone surrogates too (an error naming the key would
    otherwise fail to encode)."""
    stack: list[tuple[list[str | int], Any, int]] = [([], value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where, f"the JSON is nested more than {MAX_DEPTH} levels deep", "json_too_deep"
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return where, problem[0], problem[1]
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                problem = _string_problem(key, nul_allowed=True)  # a key is never stored, only matched
                if problem:
                    return [*where, key.encode("utf-8", "backslashreplace").decode()], "a key " + problem[0], problem[1]
                stack.append(([*where, key], child, depth + 1))
        elif isinstance(item, list):
            for i in reversed(range(len(item))):
                stack.append(([*where, i], item[i], depth + 1))
    return None


def _string_problem(text: str, nul_allowed: bool = False) -> tuple[str, str] | None:
    if not nul_allowed and "\x00" in text:
        return "holds a NUL character (\\u0000), which is not allowed in text", "nul_character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return (
            f"holds a lone surrogate (\\u{code:04x}), which is not text: send characters, not halves of a pair",
            "lone_surrogate",
        )
    return None


def json_problem(raw: bytes) -> tuple[list[str | int], str, str] | None:
    """Why this body is not acceptable JSON text, or None when it is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], f"the body is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start})", "utf8_invalid"
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        return [], f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", "json_invalid"
    except RecursionError:
        return [], f"the JSON is nested more than {MAX_DEPTH} levels deep", "json_too_deep"
    except ValueError as exc:  # e.g. an integer of more digits than Python parses
        return [], f"the body is not valid JSON ({exc})", "json_invalid"
    return text_problem(data)


def problem_body(where: list[str | int], message: str, kind: str) -> dict:
    """A 422 body in the shape every validation error has (api/errors.py)."""
    return validation_body([{"loc": ["body", *where], "msg": message, "type": kind}])


async def send_json(send: Send, status: int, body: dict, headers: Iterable[tuple[str, str]] = ()) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))


class BodyTooLarge(Exception):
    """Raised into the app by the counting receive, after the 413 has been sent."""


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_import_bytes: int):
        self.app = app
        self.max_body = max_body_bytes
        self.max_import = max_import_bytes

    def limit_for(self, scope: Scope) -> int:
        return self.max_import if scope["path"] in (IMPORT_PATH, ACTIONS_PATH) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:  # no route reads other bodies
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._too_large(send, limit)  # refused unread; the server drops the connection's rest
            return
        if _is_json(scope) and scope["path"] != IMPORT_PATH:
            await self._checked_json(scope, receive, send, limit)
            return
        await self._counted(scope, receive, send, limit)

    async def _too_large(self, send: Send, limit: int) -> None:
        await send_json(
            send,
            413,
            {
                "error": "payload_too_large",
                "message": f"The request body is larger than the {limit:,} bytes this address accepts.",
                "limit_bytes": limit,
            },
            headers=[("Connection", "close")],
        )

    async def _checked_json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if raw.strip():
            problem = json_problem(raw)
            if problem is not None:
                await send_json(send, 422, problem_body(*problem))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        total = 0
        started = refused = False

        async def counting() -> Message:
            nonlocal total, refused
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    if not started and not refused:
                        refused = True
                        await self._too_large(send, limit)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 went out; whatever the app makes of the broken read is dropped
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting, guarded_send)
        except BodyTooLarge:
            if not refused:
                raise
        except BaseExceptionGroup as group:
            if not refused or group.subgroup(BodyTooLarge) is None:
                raise


class MethodGuard:
    """Allow, OPTIONS and 405 from the app's own routes (mounted apps, e.g. /static, answer for themselves)."""

    def __init__(self, app: ASGIApp, routes: list[Any]):
        self.app = app
        self.routes = routes  # the app's live route list: read at the first request, when it is complete
        self._flat: list[Any] | None = None
        self._table: list[tuple[Any, frozenset[str], bool]] | None = None
        # allowed() per path, as every request asks it: most requests go to a few fixed paths. Only paths
        # a route serves, of up to 200 characters, and at most 4096 of them (ids make paths many).
        self._answers: dict[str, list[str] | None] = {}

    def flat_routes(self) -> list[Any]:
        """Every route with its full path (FastAPI keeps included routers' routes inside them)."""
        if self._flat is None:
            self._flat = [
                rc
                for rc in iter_route_contexts(self.routes)
                if isinstance(rc.original_route, Route) and not isinstance(rc.original_route, Mount)
            ]
        return self._flat

    def _routes_table(self) -> list[tuple[Any, frozenset[str], bool]]:
        """(path pattern, methods, has parameters) of every route with methods, read once."""
        if self._table is None:
            self._table = [
                (route.path_regex, frozenset(route.methods), bool(route.param_convertors))
                for route in self.flat_routes()
                if route.methods
            ]
        return self._table

    def allowed(self, path: str) -> list[str] | None:
        """The methods this path answers, or None when no route serves it."""
        if path in self._answers:
            return self._answers[path]
        fixed: set[str] = set()
        templated: set[str] = set()
        for regex, route_methods, has_params in self._routes_table():
            if regex.match(path):
                (templated if has_params else fixed).update(route_methods)
        methods = fixed or templated
        answer = None
        if methods:
            order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
            answer = sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m)) + ["OPTIONS"]
        if answer is not None and len(path) <= 200:  # not every path a client can make up: those of routes
            if len(self._answers) >= 4096:
                self._answers.clear()
            self._answers[path] = answer
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowed = self.allowed(scope["path"])
        method = scope["method"]
        if allowed is None or (method in allowed and method != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        allow = ", ".join(allowed)
        if method == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", allow.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send_json(
            send,
            405,
            {
                "error": "method_not_allowed",
                "message": f"This address does not answer {method}; it answers {allow}.",
                "allowed": allowed,
            },
            headers=[("Allow", allow)],
        )
